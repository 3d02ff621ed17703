"""The GCP provisioner: Compute Engine clusters (on-demand or Spot) and single-host TPU VMs.

Every node carries the cluster's labels (``stix-cluster``, ``stix-rank``) and a
deterministic name, so each verb finds the cluster again and a retried create
finishes what an interrupted one started. Zones of the chosen region are tried
in turn; each failed zone prints one line. The Google SDK loads when a verb runs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, ClassVar

import attrs
from stix.errors import ClusterError, NoCapacityError, ProvisionError
from stix.interfaces import ClusterInfo, InstanceInfo, ProvisionConfig, Provisioner, ProvisionRecord

from stix_gcp import firewall, machines, tpu
from stix_gcp.errors import classify, is_google_error
from stix_gcp.instances import (
    STATUS,
    addresses,
    by_rank,
    is_spot,
    list_cluster,
    poll,
    short,
    tagged_clusters,
    wait_operation,
)
from stix_gcp.session import compute, credentials, project_id

DEFAULT_SSH_USER = "gcpuser"
DEFAULT_REGION = "us-central1"
DEFAULT_WAIT_SECONDS = 900.0


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def setting(config: ProvisionConfig | None, key: str, default: Any = None) -> Any:
    """``key`` from the attempt's provider config, else ``gcp.<key>`` from the user's config."""
    if config is not None and key in config.provider_config:
        return config.provider_config[key]
    from stix.config import load_config

    return load_config().get(f"gcp.{key}", default)


def guard(what: str, call: Callable[[], Any]) -> Any:
    """Run ``call``; Google errors become :class:`ProvisionError` with a failover scope."""
    try:
        return call()
    except ProvisionError:
        raise
    except Exception as exc:
        if is_google_error(exc):
            raise classify(exc, what) from exc
        raise


def private_key_path(cluster_name_on_cloud: str) -> str | None:
    """The cluster's private key when STIX made one here, else ``None``."""
    from stix.runner.ssh_keys import cluster_key_path

    path = cluster_key_path(cluster_name_on_cloud)
    return str(path) if path.exists() else None


class GcpProvisioner(Provisioner):
    """Creates, queries and removes GCP clusters; each verb is idempotent."""

    name: ClassVar[str] = "gcp"

    def say(self, line: str) -> None:
        """Print one progress line for the user (stderr)."""
        _say(line)

    # -- shared resources --------------------------------------------------------

    def bootstrap(self, config: ProvisionConfig) -> ProvisionConfig:
        """Resolve the project, make the SSH key and the SSH/ports firewall rules."""
        from stix.runner.ssh_keys import cluster_public_key

        region = config.region or str(setting(config, "region", DEFAULT_REGION))
        name = config.cluster_name_on_cloud
        provider = dict(config.provider_config)
        provider["project"] = guard("project", project_id)
        provider["region"] = region
        provider["ssh_user"] = str(setting(config, "ssh_user", DEFAULT_SSH_USER))
        provider["public_key"] = config.ssh_public_key or cluster_public_key(name)
        network = setting(config, "network")
        if network:
            provider["network"] = network
        if not tpu.is_tpu(config.resources):
            ports = tuple(dict.fromkeys((*config.ports, *(config.resources.ports or ()))))
            guard(
                f"firewall rules of {config.cluster_name}",
                lambda: firewall.ensure(name, ports, provider.get("network")),
            )
        return attrs.evolve(config, provider_config=provider, region=region)

    # -- launch ------------------------------------------------------------------

    def run_instances(self, config: ProvisionConfig) -> ProvisionRecord:
        """Create or resume ``config.count`` nodes in one zone of ``config.region``."""
        if "public_key" not in config.provider_config or config.region is None:
            config = self.bootstrap(config)
        if tpu.is_tpu(config.resources):
            return tpu.run(config, self.say)
        region = str(config.region)
        resources = config.resources
        instance_type = getattr(resources, "instance_type", None)
        if not instance_type:
            raise ProvisionError("gcp: no instance_type chosen for the cluster", scope="abort")
        if config.count < 1:
            raise ProvisionError("gcp: a cluster needs at least one node", scope="abort")
        spot = bool(getattr(resources, "use_spot", False))
        label = f"{instance_type}{' (spot)' if spot else ''}"
        cno = config.cluster_name_on_cloud
        found = guard(f"cluster {config.cluster_name}", lambda: list_cluster(cno))
        found = self._drop_reclaimed(found, f"{label} in {region}")
        ranked = {r: i for r, i in by_rank(found).items() if r < config.count}
        resumed = self._resume(config, ranked, f"{label} in {region}")
        missing = [r for r in range(config.count) if r not in ranked]
        zone = short(next(iter(ranked.values())).zone) if ranked else None
        created: list[str] = []
        if missing:
            zones = [zone] if zone else list(config.zones) or self._zones(instance_type, region)
            zone, created = self._launch_in_zones(config, zones, missing, label)
        return ProvisionRecord(
            cloud="gcp",
            region=region,
            zone=zone,
            cluster_name_on_cloud=cno,
            head_instance_id=machines.instance_name(cno, 0),
            created_instance_ids=tuple(created),
            resumed_instance_ids=tuple(resumed),
        )

    def _zones(self, instance_type: str, region: str) -> list[str]:
        """Zones of ``region`` that offer the machine type, in name order."""
        client = compute("MachineTypesClient")

        def read() -> list[str]:
            pages = client.aggregated_list(
                request={
                    "project": project_id(),
                    "filter": f'name = "{instance_type}"',
                }
            )
            zones = {
                short(m.zone)
                for _scope, scoped in pages
                for m in scoped.machine_types
                if short(m.zone).rsplit("-", 1)[0] == region
            }
            return sorted(zones)

        zones = guard(f"zones of {region}", read)
        if not zones:
            raise NoCapacityError(f"gcp: {instance_type} is not offered in any zone of {region}")
        return zones

    def _drop_reclaimed(self, found: list[Any], what: str) -> list[Any]:
        """Delete Spot nodes that were reclaimed (stopped by Compute Engine) so they are re-made."""
        gone = [i for i in found if is_spot(i) and i.status in ("TERMINATED", "STOPPING")]
        if gone:
            self._delete(gone, what)
        return [i for i in found if i not in gone]

    def _resume(self, config: ProvisionConfig, ranked: dict[int, Any], what: str) -> list[str]:
        stopped = [
            i for i in ranked.values() if i.status in ("TERMINATED", "STOPPING", "SUSPENDED")
        ]
        if not stopped:
            return []
        if not config.resume_stopped:
            raise ProvisionError(
                f"gcp: cluster {config.cluster_name} has stopped nodes; start them or tear it down",
                scope="abort",
            )
        if any(i.status == "STOPPING" for i in stopped):
            self._wait(config.cluster_name_on_cloud, {"TERMINATED", "RUNNING"}, 300.0)
        self._act("start", stopped, what)
        return [i.name for i in stopped]

    def _act(self, verb: str, found: list[Any], what: str) -> None:
        """Call ``instances.<verb>`` on every instance in ``found``, then wait for each."""
        client = compute("InstancesClient")
        project = project_id()

        def work() -> None:
            ops = [
                getattr(client, verb)(project=project, zone=short(i.zone), instance=i.name)
                for i in found
            ]
            for op in ops:
                wait_operation(op)

        guard(what, work)

    def _launch_in_zones(
        self, config: ProvisionConfig, zones: list[str], ranks: list[int], label: str
    ) -> tuple[str, list[str]]:
        last: ProvisionError | None = None
        for index, zone in enumerate(zones):
            try:
                return zone, self._launch(config, zone, ranks, f"{label} in {zone}")
            except ProvisionError as exc:
                if exc.scope != "zone":
                    raise
                last = exc
                more = "; trying the next zone" if index < len(zones) - 1 else ""
                self.say(f"  {exc.message}{more}")  # one line per failed attempt
        if last is None:
            raise NoCapacityError(f"gcp: {label}: no zone of {config.region} offers it")
        raise last

    def _launch(self, config: ProvisionConfig, zone: str, ranks: list[int], what: str) -> list[str]:
        from google.api_core import exceptions as gexc
        from google.cloud import compute_v1

        client = compute("InstancesClient")
        project = project_id()
        provider = config.provider_config
        extra = setting(config, "labels", {}) or {}
        made: list[str] = []
        ops: list[Any] = []
        try:
            for r in ranks:
                body = machines.instance_body(
                    config, zone, r, provider["ssh_user"], provider["public_key"], extra
                )
                try:
                    ops.append(
                        client.insert(
                            project=project, zone=zone, instance_resource=compute_v1.Instance(body)
                        )
                    )
                except gexc.Conflict:
                    pass  # made by an earlier, interrupted attempt
                made.append(body["name"])
            for op in ops:
                wait_operation(op)
        except Exception as exc:
            self._discard(config.cluster_name_on_cloud, zone, made)
            if isinstance(exc, ProvisionError):
                raise
            if is_google_error(exc):
                raise classify(exc, what) from exc
            raise
        return made

    def _discard(self, cluster_name_on_cloud: str, zone: str, names: list[str]) -> None:
        """Delete what a failed launch made in ``zone`` (best effort), so failover starts clean."""
        try:
            left = [i for i in list_cluster(cluster_name_on_cloud) if short(i.zone) == zone]
            self._delete([i for i in left if i.name in names], "clean-up")
        except Exception as exc:
            self.say(f"  gcp: could not clean up after a failed launch: {exc}")

    def _delete(self, found: list[Any], what: str) -> None:
        from google.api_core import exceptions as gexc

        client = compute("InstancesClient")
        project = project_id()
        ops = []
        for inst in found:
            try:
                ops.append(
                    client.delete(project=project, zone=short(inst.zone), instance=inst.name)
                )
            except gexc.NotFound:
                continue
        for op in ops:
            try:
                wait_operation(op)
            except gexc.NotFound:
                continue

    # -- waiting and reading -----------------------------------------------------

    def _wait(self, cno: str, targets: set[str], timeout: float | None = None) -> list[Any]:
        limit = float(
            timeout if timeout is not None else setting(None, "wait_seconds", DEFAULT_WAIT_SECONDS)
        )

        def ready() -> list[Any] | None:
            found = list_cluster(cno)
            return found if all(i.status in targets for i in found) else None

        return (
            guard(
                "waiting",
                lambda: poll(
                    ready, limit, f"cluster {cno} did not reach {'/'.join(sorted(targets))}"
                ),
            )
            or []
        )

    def _settled(self, cno: str) -> list[Any] | None:
        """The nodes once each runs, or is a Spot node Compute Engine reclaimed; else None."""
        found = list_cluster(cno)
        if not found:
            raise ClusterError(f"gcp: cluster {cno} has no nodes")
        done = all(
            i.status == "RUNNING" or (is_spot(i) and i.status == "TERMINATED") for i in found
        )
        return found if done else None

    def wait_instances(self, cluster_name_on_cloud: str, region: str | None, state: str) -> None:
        """Block until every node is ``UP`` (RUNNING) or ``STOPPED`` (TERMINATED), or gone.

        :raises stix.errors.NoCapacityError: a Spot node was reclaimed while starting.
        """
        if tpu.owns(cluster_name_on_cloud):
            tpu.wait(cluster_name_on_cloud, state)
            return
        if state == "UP":
            found = guard(
                "waiting",
                lambda: poll(
                    lambda: self._settled(cluster_name_on_cloud),
                    float(setting(None, "wait_seconds", DEFAULT_WAIT_SECONDS)),
                    f"cluster {cluster_name_on_cloud} did not start",
                ),
            )
            down = [i for i in found if i.status != "RUNNING"]
            if down:
                raise NoCapacityError(
                    f"gcp: node {down[0].name} of {cluster_name_on_cloud} stopped while starting "
                    f"({down[0].status_message or 'reclaimed'})"
                )
        elif state == "STOPPED":
            self._wait(cluster_name_on_cloud, {"TERMINATED", "SUSPENDED"})
        elif state == "TERMINATED":
            guard(
                "waiting",
                lambda: poll(
                    lambda: not list_cluster(cluster_name_on_cloud), 600.0, "nodes still exist"
                ),
            )
        else:
            raise ProvisionError(f"gcp: cannot wait for state {state!r}", scope="abort")

    def get_cluster_info(self, cluster_name_on_cloud: str, region: str | None) -> ClusterInfo:
        """Addresses of the nodes, head first, workers by rank."""
        if tpu.owns(cluster_name_on_cloud):
            return tpu.cluster_info(cluster_name_on_cloud, region)
        found = guard("cluster info", lambda: by_rank(list_cluster(cluster_name_on_cloud)))
        if not found:
            raise ClusterError(f"gcp: cluster {cluster_name_on_cloud} has no nodes")
        infos = []
        for inst in found.values():
            internal, external = addresses(inst)
            infos.append(
                InstanceInfo(
                    instance_id=inst.name,
                    internal_ip=internal,
                    external_ip=external,
                    ssh_port=22,
                    status=STATUS.get(inst.status) or "TERMINATED",
                    tags=dict(inst.labels),
                )
            )
        head = next(iter(found.values()))
        zone = short(head.zone)
        return ClusterInfo(
            cloud="gcp",
            region=zone.rsplit("-", 1)[0],
            zone=zone,
            instances=tuple(infos),
            ssh_user=str(setting(None, "ssh_user", DEFAULT_SSH_USER)),
            provider_config={
                "cluster_name": head.labels.get(machines.LABEL_CLUSTER_NAME)
                or cluster_name_on_cloud,
                "cluster_name_on_cloud": cluster_name_on_cloud,
                "ssh_private_key": private_key_path(cluster_name_on_cloud),
                "project": project_id(),
                "use_spot": is_spot(head),
            },
        )

    def list_clusters(self) -> list[dict[str, Any]] | None:
        """Every cluster with an instance labelled ``stix-managed`` in any zone of the
        project, plus the TPU VMs made from this machine.

        ``None`` when no Application Default Credentials or project are found.
        """
        from stix.errors import CredentialsError

        try:
            credentials()
            project_id()
        except CredentialsError:
            return None
        return guard("listing clusters", lambda: [*tagged_clusters(), *tpu.marked_clusters()])

    def query_instances(
        self, cluster_name_on_cloud: str, region: str | None
    ) -> dict[str, str | None]:
        """``{instance name: UP|STOPPED|INIT|None}``; a reclaimed Spot node is ``None``."""
        if tpu.owns(cluster_name_on_cloud):
            return tpu.query(cluster_name_on_cloud)
        found = guard("query", lambda: list_cluster(cluster_name_on_cloud))
        out: dict[str, str | None] = {}
        for inst in found:
            if is_spot(inst) and inst.status in ("TERMINATED", "STOPPING"):
                out[inst.name] = None  # Compute Engine stops a Spot VM it reclaims
            else:
                out[inst.name] = STATUS.get(inst.status)
        return out

    def autostop_commands(self, cluster_name: str) -> dict[str, list[str]] | None:
        """What the head's agent runs when autostop fires: a stdlib-only script that stops
        or deletes every node of the head's cluster with the VM's service account."""
        from stix.provision.nodescript import script_commands

        return script_commands(__file__, "node_autostop.py")

    # -- stop, terminate, ports --------------------------------------------------

    def stop_instances(self, cluster_name_on_cloud: str, region: str | None) -> None:
        """Stop every node (disks are kept). Spot clusters are torn down instead."""
        if tpu.owns(cluster_name_on_cloud):
            raise ClusterError(
                "gcp: TPU VMs cannot be stopped by stix", hint="tear it down: stix down"
            )
        found = guard("stop", lambda: list_cluster(cluster_name_on_cloud))
        if any(is_spot(i) for i in found):
            raise ClusterError(
                f"gcp: cluster {cluster_name_on_cloud} runs on Spot VMs, which stix does not stop",
                hint="tear it down instead: stix down",
            )
        running = [i for i in found if i.status in ("PROVISIONING", "STAGING", "RUNNING")]
        self._act("stop", running, "stop")

    def terminate_instances(self, cluster_name_on_cloud: str, region: str | None) -> None:
        """Delete every node, then the cluster's firewall rules and local key."""
        tpu.terminate(cluster_name_on_cloud)
        found = guard("down", lambda: list_cluster(cluster_name_on_cloud))
        if found:
            guard("down", lambda: self._delete(found, "down"))
            self.wait_instances(cluster_name_on_cloud, region, "TERMINATED")
        guard("down", lambda: firewall.remove(cluster_name_on_cloud))
        from stix.runner.ssh_keys import remove_cluster_files

        remove_cluster_files(cluster_name_on_cloud)

    def open_ports(
        self, cluster_name_on_cloud: str, region: str | None, ports: tuple[str, ...]
    ) -> None:
        """Allow TCP ``ports`` from anywhere to the cluster's nodes (its firewall rule)."""
        if tpu.owns(cluster_name_on_cloud):
            return
        guard(
            "ports", lambda: firewall.ensure(cluster_name_on_cloud, ports, setting(None, "network"))
        )


__all__ = ["DEFAULT_SSH_USER", "GcpProvisioner", "guard", "setting"]
