"""The Azure provisioner: one resource group per cluster and region, VMs on-demand or Spot.

Everything a cluster owns (VNet, NSG, public IPs, NICs, disks, VMs) lives in the
resource group ``stix-<cluster>-<region>``, so ``down`` deletes that group and a
cluster whose launch failed half way leaves nothing behind. Nodes are named
``<cluster>-<rank>`` and tagged with the cluster and their rank (0 is the head).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import attrs
from stix.errors import ClusterError, NoCapacityError, ProvisionError
from stix.interfaces import ClusterInfo, InstanceInfo, ProvisionConfig, Provisioner, ProvisionRecord

from stix_azure import network, vmspec
from stix_azure.credentials import _setting
from stix_azure.errors import to_provision_error
from stix_azure.lro import DEFAULT_TIMEOUT, PROGRESS_EVERY, say, wait_all
from stix_azure.vmspec import TAG_CLUSTER, TAG_CLUSTER_NAME, TAG_MANAGED, TAG_NODES, TAG_RANK

DEFAULT_REGION = "eastus"


def group_name(cluster_name_on_cloud: str, region: str) -> str:
    """The resource group holding the cluster's resources in ``region``."""
    return f"stix-{cluster_name_on_cloud}-{region}"[:90]


def _timeout() -> float:
    return float(_setting("wait_seconds", DEFAULT_TIMEOUT))


def _region(region: str | None) -> str:
    return region or str(_setting("region") or DEFAULT_REGION)


def _guard(what: str, call: Callable[..., Any], *args: Any) -> Any:
    """``call(*args)``, with Azure SDK errors turned into failover errors."""
    try:
        return call(*args)
    except ProvisionError:
        raise
    except Exception as exc:
        if type(exc).__module__.startswith("azure."):
            raise to_provision_error(exc, what) from exc
        raise


def _provisioning(vm: dict[str, Any]) -> str:
    return str((vm.get("properties") or {}).get("provisioningState") or "").lower()


def _rank(vm: dict[str, Any]) -> int:
    try:
        return int((vm.get("tags") or {}).get(TAG_RANK, -1))
    except ValueError:
        return -1


class AzureProvisioner(Provisioner):
    """Creates, queries and removes Azure VM clusters; each verb is idempotent."""

    name: ClassVar[str] = "azure"

    def __init__(self) -> None:
        self._clients: dict[str, Any] = {}

    def _client(self, kind: str) -> Any:
        if kind not in self._clients:
            from stix_azure import session

            make = {
                "resource": session.resource_client,
                "network": session.network_client,
                "compute": session.compute_client,
            }[kind]
            self._clients[kind] = make()
        return self._clients[kind]

    # -- resource groups ---------------------------------------------------------

    def _group_exists(self, group: str) -> bool:
        return bool(self._client("resource").resource_groups.check_existence(group))

    def _groups(self, cluster_name_on_cloud: str, region: str | None) -> list[tuple[str, str]]:
        """``(group, region)`` of the cluster: the one for ``region``, or every tagged one."""
        if region:
            group = group_name(cluster_name_on_cloud, region)
            return [(group, region)] if self._group_exists(group) else []
        found = self._client("resource").resource_groups.list(
            filter=f"tagName eq '{TAG_CLUSTER}' and tagValue eq '{cluster_name_on_cloud}'"
        )
        return [(str(g.name), str(g.location)) for g in found]

    # -- shared resources --------------------------------------------------------

    def bootstrap(self, config: ProvisionConfig) -> ProvisionConfig:
        """Create the cluster's resource group, NSG (SSH + ports) and VNet in the region."""
        region = _region(config.region)
        group = group_name(config.cluster_name_on_cloud, region)
        ports = tuple(
            dict.fromkeys((*config.ports, *(getattr(config.resources, "ports", None) or ())))
        )
        tags = self._tags(config)

        def work() -> dict[str, Any]:
            self._client("resource").resource_groups.create_or_update(
                group, {"location": region, "tags": {**tags, TAG_NODES: str(config.count)}}
            )
            subnet = network.ensure_network(
                self._client("network"),
                group,
                region,
                config.cluster_name_on_cloud,
                ports,
                tags,
                _timeout(),
            )
            return {
                **config.provider_config,
                "resource_group": group,
                "subnet_id": subnet,
                "region": region,
            }

        provider = _guard(f"cluster {config.cluster_name} in {region}", work)
        return attrs.evolve(config, provider_config=provider, region=region)

    def _tags(self, config: ProvisionConfig) -> dict[str, str]:
        labels = {
            **(getattr(config.resources, "labels", None) or {}),
            **(_setting("labels", {}) or {}),
        }
        return {
            **{str(k): str(v) for k, v in labels.items()},
            TAG_CLUSTER: config.cluster_name_on_cloud,
            TAG_CLUSTER_NAME: config.cluster_name,
            TAG_MANAGED: "true",
        }

    # -- launch ------------------------------------------------------------------

    def _vms(self, group: str) -> list[dict[str, Any]]:
        if not self._group_exists(group):
            return []
        return [vm.as_dict() for vm in self._client("compute").virtual_machines.list(group)]

    def _view(self, group: str, vm: dict[str, Any]) -> dict[str, Any]:
        return self._client("compute").virtual_machines.instance_view(group, vm["name"]).as_dict()

    def run_instances(self, config: ProvisionConfig) -> ProvisionRecord:
        """Create the missing nodes (and start deallocated ones) of the cluster in one region."""
        if "subnet_id" not in config.provider_config or config.region is None:
            config = self.bootstrap(config)
        region = _region(config.region)
        group = config.provider_config["resource_group"]
        size = getattr(config.resources, "instance_type", None)
        if not size:
            raise ProvisionError("azure: no instance_type chosen for the cluster", scope="abort")
        spot = bool(getattr(config.resources, "use_spot", False))
        label = f"{size}{' (spot)' if spot else ''} in {region}"
        existing = {
            _rank(vm): vm for vm in _guard(label, self._vms, group) if 0 <= _rank(vm) < config.count
        }
        failed = [vm["name"] for vm in existing.values() if _provisioning(vm) == "failed"]
        if failed:  # an earlier create failed: remove those VMs and make their ranks again
            say(f"  azure: removing {len(failed)} node(s) whose creation failed earlier")
            _guard(label, self._delete_vms, group, failed)
            existing = {r: vm for r, vm in existing.items() if vm["name"] not in failed}
        resumed = self._resume(group, config, existing, label)
        missing = [r for r in range(config.count) if r not in existing]
        created: list[str] = []
        if missing:
            say(f"  azure: creating {len(missing)} x {label} in resource group {group}")
            created = _guard(label, lambda: self._create(config, group, region, str(size), missing))
        head = f"{config.cluster_name_on_cloud}-0"
        return ProvisionRecord(
            cloud="azure",
            region=region,
            zone=None,
            cluster_name_on_cloud=config.cluster_name_on_cloud,
            head_instance_id=head,
            created_instance_ids=tuple(created),
            resumed_instance_ids=tuple(resumed),
        )

    def _resume(
        self, group: str, config: ProvisionConfig, existing: dict[int, dict[str, Any]], label: str
    ) -> list[str]:
        views = {r: _guard(label, self._view, group, vm) for r, vm in existing.items()}
        stopped = [
            existing[r]["name"]
            for r, v in views.items()
            if vmspec.STATUS.get(vmspec.power_state(v) or "") == "STOPPED"
        ]
        if not stopped:
            return []
        if not config.resume_stopped:
            raise ProvisionError(
                f"azure: cluster {config.cluster_name} has stopped nodes; start them or tear it down",
                scope="abort",
            )
        compute = self._client("compute")
        say(f"  azure: starting {len(stopped)} deallocated node(s)")
        _guard(
            label,
            lambda: wait_all(
                [(f"start {n}", compute.virtual_machines.begin_start(group, n)) for n in stopped],
                _timeout(),
            ),
        )
        return stopped

    def _create(
        self, config: ProvisionConfig, group: str, region: str, size: str, ranks: list[int]
    ) -> list[str]:
        from stix.runner.ssh_keys import cluster_public_key

        net = self._client("network")
        compute = self._client("compute")
        cno = config.cluster_name_on_cloud
        tags = self._tags(config)
        timeout = _timeout()
        subnet = config.provider_config["subnet_id"]
        ips = wait_all(
            [
                (
                    f"public IP {cno}-{r}-ip",
                    network.begin_public_ip(net, group, region, f"{cno}-{r}-ip", tags),
                )
                for r in ranks
            ],
            timeout,
        )
        nics = wait_all(
            [
                (
                    f"network interface {cno}-{r}-nic",
                    network.begin_nic(
                        net, group, region, f"{cno}-{r}-nic", subnet, ip.as_dict()["id"], tags
                    ),
                )
                for r, ip in zip(ranks, ips, strict=True)
            ],
            timeout,
        )
        public_key = config.ssh_public_key or cluster_public_key(cno)
        user = str(_setting("ssh_user") or vmspec.DEFAULT_SSH_USER)
        pollers = []
        for rank, nic in zip(ranks, nics, strict=True):
            name = f"{cno}-{rank}"
            body = vmspec.vm_body(
                region=region,
                size=size,
                computer_name=name,
                nic_id=nic.as_dict()["id"],
                ssh_user=user,
                public_key=public_key.strip(),
                tags={**tags, TAG_RANK: str(rank), "stix-role": "head" if rank == 0 else "worker"},
                resources=config.resources,
                spot_policy=_setting("spot_eviction_policy", "Delete"),
            )
            pollers.append(
                (
                    f"virtual machine {name}",
                    compute.virtual_machines.begin_create_or_update(group, name, body),
                )
            )
        wait_all(pollers, timeout)
        return [f"{cno}-{r}" for r in ranks]

    # -- waiting and reading -----------------------------------------------------

    def _states(self, group: str) -> dict[int, tuple[str, str | None, str]]:
        """``{rank: (vm name, power state, provisioning state)}`` of the group's VMs."""
        out = {}
        for vm in self._vms(group):
            view = self._view(group, vm)
            out[_rank(vm)] = (str(vm["name"]), vmspec.power_state(view), _provisioning(vm))
        return out

    def wait_instances(self, cluster_name_on_cloud: str, region: str | None, state: str) -> None:
        """Block until every node is running (``UP``) or deallocated (``STOPPED``).

        :raises stix.errors.NoCapacityError: a Spot node was evicted while starting.
        """
        import time

        if state not in ("UP", "STOPPED"):
            raise ProvisionError(f"azure: cannot wait for state {state!r}", scope="abort")
        group = group_name(cluster_name_on_cloud, _region(region))
        want = "UP" if state == "UP" else "STOPPED"
        limit = _timeout()
        deadline = time.monotonic() + limit
        expected = self._expected_nodes(group)
        delay = 0.2
        next_note = time.monotonic() + PROGRESS_EVERY
        while True:
            states = _guard("waiting", self._states, group)
            if not states and expected is None:
                raise ClusterError(f"azure: cluster {cluster_name_on_cloud} has no nodes")
            failed = [n for n, _, p in states.values() if p.lower() == "failed"]
            if failed:
                raise NoCapacityError(f"azure: node {failed[0]} of {cluster_name_on_cloud} failed")
            gone = expected is not None and len(states) < expected
            if want == "UP" and gone:
                raise NoCapacityError(
                    f"azure: a node of {cluster_name_on_cloud} was deleted while starting "
                    "(Spot eviction?)"
                )
            if want == "UP" and any(
                s in ("deallocated", "deallocating") for _, s, _ in states.values()
            ):
                raise NoCapacityError(
                    f"azure: a node of {cluster_name_on_cloud} was deallocated while starting "
                    "(Spot eviction?)"
                )
            now = {vmspec.STATUS.get(s or "") for _, s, _ in states.values()}
            if (
                states
                and now == {want}
                and (want != "STOPPED" or all(s == "deallocated" for _, s, _ in states.values()))
            ):
                return
            if time.monotonic() >= next_note:
                seen = ", ".join(sorted({str(s) for _, s, _ in states.values()}))
                say(f"  azure: waiting for {cluster_name_on_cloud} to be {state} (now {seen})")
                next_note = time.monotonic() + PROGRESS_EVERY
            if time.monotonic() > deadline:
                raise ProvisionError(
                    f"azure: cluster {cluster_name_on_cloud} did not reach {state} within "
                    f"{limit:.0f} s",
                    scope="region",
                )
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _expected_nodes(self, group: str) -> int | None:
        try:
            tags = self._client("resource").resource_groups.get(group).as_dict().get("tags") or {}
            return int(str(tags.get(TAG_NODES)))
        except Exception:
            return None

    def get_cluster_info(self, cluster_name_on_cloud: str, region: str | None) -> ClusterInfo:
        """Addresses of the cluster's nodes, head first, workers by rank."""
        region = _region(region)
        group = group_name(cluster_name_on_cloud, region)
        net = self._client("network")

        def read() -> list[tuple[dict[str, Any], str, str | None, str | None]]:
            rows = []
            for vm in sorted(self._vms(group), key=_rank):
                nic = vm["properties"]["networkProfile"]["networkInterfaces"][0]["id"]
                private, public = network.addresses(net, group, nic)
                power = vmspec.power_state(self._view(group, vm))
                rows.append((vm, private, public, power))
            return rows

        rows = _guard("cluster info", read)
        if not rows:
            raise ClusterError(f"azure: cluster {cluster_name_on_cloud} has no nodes in {region}")
        head = rows[0][0]
        return ClusterInfo(
            cloud="azure",
            region=region,
            zone=None,
            instances=tuple(
                InstanceInfo(
                    instance_id=str(vm["name"]),
                    internal_ip=private,
                    external_ip=public,
                    ssh_port=int(_setting("ssh_port", 22)),
                    status=vmspec.STATUS.get(power or "") or "INIT",
                    tags={str(k): str(v) for k, v in (vm.get("tags") or {}).items()},
                )
                for vm, private, public, power in rows
            ),
            ssh_user=str(
                head["properties"].get("osProfile", {}).get("adminUsername")
                or _setting("ssh_user")
                or vmspec.DEFAULT_SSH_USER
            ),
            provider_config={
                "cluster_name": (head.get("tags") or {}).get(TAG_CLUSTER_NAME)
                or cluster_name_on_cloud,
                "cluster_name_on_cloud": cluster_name_on_cloud,
                "ssh_private_key": _cluster_private_key(cluster_name_on_cloud),
                "region": region,
                "resource_group": group,
                "use_spot": head["properties"].get("priority") == "Spot",
            },
        )

    def list_clusters(self) -> list[dict[str, Any]] | None:
        """One entry per resource group tagged ``stix-managed`` and ``stix-cluster``: the
        subscription's groups in every region, in one list.

        ``None`` when no subscription is configured (Azure is not in use here).
        """
        from stix.errors import CredentialsError

        from stix_azure.credentials import subscription

        try:
            subscription()
        except CredentialsError:
            return None

        def read() -> list[dict[str, Any]]:
            groups = self._client("resource").resource_groups.list(
                filter=f"tagName eq '{TAG_MANAGED}' and tagValue eq 'true'"
            )
            found = []
            for g in groups:
                tags = g.tags or {}
                if tags.get(TAG_CLUSTER):
                    found.append(
                        {
                            "cluster_name": tags.get(TAG_CLUSTER_NAME),
                            "cluster_name_on_cloud": tags[TAG_CLUSTER],
                            "region": str(g.location),
                        }
                    )
            return found

        return list(_guard("listing clusters", read))

    def query_instances(
        self, cluster_name_on_cloud: str, region: str | None
    ) -> dict[str, str | None]:
        """``{node: UP|STOPPED|INIT|None}``; ``None`` for a rank whose VM is gone (evicted)."""
        out: dict[str, str | None] = {}
        for group, _ in _guard("query", self._groups, cluster_name_on_cloud, region):
            states = _guard("query", self._states, group)
            for _, (name, power, prov) in states.items():
                status = vmspec.STATUS.get(power or "")
                out[name] = status or ("INIT" if prov.lower() != "failed" else None)
            expected = self._expected_nodes(group) or 0
            for rank in range(expected):
                if rank not in states:
                    out[f"{cluster_name_on_cloud}-{rank}"] = None
        return out

    # -- stop, terminate, ports ----------------------------------------------------

    def stop_instances(self, cluster_name_on_cloud: str, region: str | None) -> None:
        """Deallocate every node (disks are kept, compute is no longer billed)."""
        for group, _ in _guard("stop", self._groups, cluster_name_on_cloud, region):
            _guard("stop", self._deallocate, group)

    def _deallocate(self, group: str) -> None:
        compute = self._client("compute")
        names = [vm["name"] for vm in self._vms(group)]
        wait_all(
            [
                (f"deallocate {n}", compute.virtual_machines.begin_deallocate(group, n))
                for n in names
            ],
            _timeout(),
        )

    def terminate_instances(self, cluster_name_on_cloud: str, region: str | None) -> None:
        """Delete the cluster's resource group(s) with everything in them."""
        groups = [g for g, _ in _guard("down", self._groups, cluster_name_on_cloud, region)]
        if groups:
            say(f"  azure: deleting resource group(s) {', '.join(groups)}")
            _guard("down", self._delete_groups, groups)
        from stix.runner.ssh_keys import remove_cluster_files

        remove_cluster_files(cluster_name_on_cloud)

    def _delete_vms(self, group: str, names: list[str]) -> None:
        compute = self._client("compute")
        wait_all(
            [(f"delete {n}", compute.virtual_machines.begin_delete(group, n)) for n in names],
            _timeout(),
        )

    def _delete_groups(self, groups: list[str]) -> None:
        resource = self._client("resource")
        pollers = [
            (f"delete resource group {g}", resource.resource_groups.begin_delete(g)) for g in groups
        ]
        wait_all(pollers, _timeout())

    def open_ports(
        self, cluster_name_on_cloud: str, region: str | None, ports: tuple[str, ...]
    ) -> None:
        """Allow TCP ``ports`` from anywhere on the cluster's NSG."""
        net = self._client("network")
        for group, _ in _guard("ports", self._groups, cluster_name_on_cloud, region):
            _guard(
                "ports", network.open_ports, net, group, cluster_name_on_cloud, ports, _timeout()
            )


def _cluster_private_key(cluster_name_on_cloud: str) -> str | None:
    from stix.runner.ssh_keys import cluster_key_path

    path = cluster_key_path(cluster_name_on_cloud)
    return str(path) if path.exists() else None


__all__ = ["AzureProvisioner", "group_name"]
