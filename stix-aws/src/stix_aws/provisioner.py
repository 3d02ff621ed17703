"""The AWS provisioner: EC2 clusters, on-demand or spot, with zone failover inside a region.

Every node is tagged with the cluster (``stix-cluster``) and its rank (0 is the
head), so each verb finds the cluster again and can finish what an earlier,
interrupted run started. boto3 is imported only when a verb runs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, ClassVar

import attrs
from stix.errors import ClusterError, NoCapacityError, ProvisionError
from stix.interfaces import ClusterInfo, InstanceInfo, ProvisionConfig, Provisioner, ProvisionRecord

from stix_aws import images, network, nodes
from stix_aws.errors import to_provision_error
from stix_aws.session import DEFAULT_REGION, client, session
from stix_aws.tags import (
    LIVE_STATES,
    TAG_CLUSTER,
    TAG_CLUSTER_NAME,
    TAG_MANAGED,
    TAG_RANK,
    TAG_ROLE,
    tag_dict,
    tag_list,
)

DEFAULT_SSH_USER = "ubuntu"
DEFAULT_WAIT_SECONDS = 900.0


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _region(region: str | None) -> str:
    return region or session().region_name or DEFAULT_REGION


def _setting(config: ProvisionConfig | None, key: str, default: Any = None) -> Any:
    if config is not None and key in config.provider_config:
        return config.provider_config[key]
    from stix.config import load_config

    return load_config().get(f"aws.{key}", default)


def _configured_vpc(config: ProvisionConfig | None, region: str) -> str | None:
    """The VPC set in the provider config or ``aws.vpc_id`` (a string or ``{region: id}``)."""
    wanted = (config.provider_config.get("vpc_id") if config else None) or _setting(
        config, "vpc_id"
    )
    if isinstance(wanted, dict):
        wanted = wanted.get(region)
    return str(wanted) if wanted else None


def _cluster_vpc(ec2: Any, region: str, found: list[dict[str, Any]]) -> str | None:
    """The VPC of the cluster's nodes; else the configured or default VPC (``None``: none)."""
    for instance in found:
        if instance.get("VpcId"):
            return str(instance["VpcId"])
    wanted = _configured_vpc(None, region)
    if wanted:
        return wanted
    try:
        return network.vpc_id(ec2, {}, region)
    except ProvisionError:
        return None  # no default VPC, so no group of ours can be there


def _guard(what: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except ProvisionError:
        raise
    except Exception as exc:
        if type(exc).__module__.startswith(("botocore", "boto3")):
            raise to_provision_error(exc, what) from exc
        raise


def _cluster_private_key(cluster_name_on_cloud: str) -> str | None:
    """Path of the cluster's private key when STIX made one, else ``None``."""
    from stix.runner.ssh_keys import cluster_key_path

    path = cluster_key_path(cluster_name_on_cloud)
    return str(path) if path.exists() else None


class AwsProvisioner(Provisioner):
    """Creates, queries and removes EC2 clusters; each verb is idempotent."""

    name: ClassVar[str] = "aws"

    def say(self, line: str) -> None:
        """Print one progress line for the user (stderr)."""
        _say(line)

    # -- shared resources ------------------------------------------------------

    def bootstrap(self, config: ProvisionConfig) -> ProvisionConfig:
        """Make sure the cluster's security group (and key pair) exist; record their ids."""
        region = _region(config.region)
        ec2 = client("ec2", region)
        name = config.cluster_name_on_cloud
        ports = tuple(
            dict.fromkeys((*config.ports, *(getattr(config.resources, "ports", None) or ())))
        )

        def work() -> dict[str, Any]:
            from stix.runner.ssh_keys import cluster_public_key

            provider = dict(config.provider_config)
            wanted = _configured_vpc(config, region)
            if wanted:
                provider["vpc_id"] = wanted
            vpc = network.vpc_id(ec2, provider, region)
            provider["vpc_id"] = vpc
            provider["security_group_id"] = network.ensure_security_group(ec2, name, vpc, ports)
            public_key = config.ssh_public_key or cluster_public_key(name)
            provider["key_name"] = network.ensure_key_pair(ec2, name, public_key)
            provider["region"] = region
            return provider

        provider = _guard(f"cluster {config.cluster_name} in {region}", work)
        return attrs.evolve(config, provider_config=provider, region=region)

    # -- launch ----------------------------------------------------------------

    def run_instances(self, config: ProvisionConfig) -> ProvisionRecord:
        """Create or resume ``config.count`` nodes in one zone of ``config.region``.

        Zones are tried in the order given (all zones offering the type when
        none are given); a zone without capacity prints one line and the next
        zone is tried. The last zone's error is raised when every zone fails.
        """
        if "security_group_id" not in config.provider_config or config.region is None:
            config = self.bootstrap(config)
        region = _region(config.region)
        ec2 = client("ec2", region)
        resources = config.resources
        instance_type = getattr(resources, "instance_type", None)
        if not instance_type:
            raise ProvisionError("aws: no instance_type chosen for the cluster", scope="abort")
        spot = bool(getattr(resources, "use_spot", False))
        label = f"{instance_type}{' (spot)' if spot else ''}"
        name = config.cluster_name_on_cloud

        existing = _guard(
            f"cluster {config.cluster_name} in {region}", lambda: nodes.describe(ec2, name)
        )
        ranked = nodes.by_rank(existing)
        untagged = [(r, i["InstanceId"]) for r, i in ranked.items() if i.get("_new_rank")]
        if untagged:
            _guard("tagging", lambda: self._tag_ranks(ec2, config, untagged))
        ranked = {r: i for r, i in ranked.items() if r < config.count}
        resumed = self._resume(ec2, config, ranked, f"{label} in {region}")

        missing = [r for r in range(config.count) if r not in ranked]
        created: list[str] = []
        zone: str | None = None
        if ranked:
            zone = next(iter(ranked.values()))["Placement"]["AvailabilityZone"]
        if missing:
            if zone is not None:
                zones = [zone]
            elif config.zones:
                zones = _guard("zones", lambda: nodes.zone_names(ec2, config.zones))
            else:
                zones = _guard(f"zones of {region}", lambda: nodes.region_zones(ec2, instance_type))
            zone, created = self._launch_in_zones(ec2, config, region, zones, missing, label)
        elif zone is None:  # count == 0
            raise ProvisionError("aws: a cluster needs at least one node", scope="abort")

        final = nodes.by_rank(nodes.describe(ec2, name))
        head = final.get(0)
        if head is None:
            raise ProvisionError(
                f"aws: cluster {config.cluster_name} has no head node", scope="zone"
            )
        return ProvisionRecord(
            cloud="aws",
            region=region,
            zone=zone,
            cluster_name_on_cloud=name,
            head_instance_id=head["InstanceId"],
            created_instance_ids=tuple(created),
            resumed_instance_ids=tuple(resumed),
        )

    def _resume(
        self, ec2: Any, config: ProvisionConfig, ranked: dict[int, dict[str, Any]], what: str
    ) -> list[str]:
        stopped = [
            i["InstanceId"] for i in ranked.values() if nodes.state(i) in ("stopped", "stopping")
        ]
        if not stopped:
            return []
        if not config.resume_stopped:
            raise ProvisionError(
                f"aws: cluster {config.cluster_name} has stopped nodes; start them or tear it down",
                scope="abort",
            )
        waiter_states = {nodes.state(i) for i in ranked.values() if i["InstanceId"] in stopped}
        if "stopping" in waiter_states:
            self._wait(ec2, config.cluster_name_on_cloud, {"stopped", "running", "pending"})
        _guard(what, lambda: ec2.start_instances(InstanceIds=stopped))
        return stopped

    def _launch_in_zones(
        self,
        ec2: Any,
        config: ProvisionConfig,
        region: str,
        zones: list[str],
        ranks: list[int],
        label: str,
    ) -> tuple[str, list[str]]:
        last: ProvisionError | None = None
        for index, zone in enumerate(zones):
            try:
                return zone, self._launch(ec2, config, region, zone, ranks, f"{label} in {zone}")
            except ProvisionError as exc:
                if exc.scope != "zone":
                    raise
                last = exc
                if index < len(zones) - 1:
                    self.say(f"  {exc.message}; trying the next zone")
        if last is None:
            raise NoCapacityError(f"aws: {label}: no zone of {region} offers it")
        raise last

    def _launch(
        self, ec2: Any, config: ProvisionConfig, region: str, zone: str, ranks: list[int], what: str
    ) -> list[str]:
        params = _guard(what, lambda: self._launch_params(ec2, config, region, zone, len(ranks)))
        launcher = client("ec2", region, retry=False)
        before = {i["InstanceId"] for i in nodes.describe(ec2, config.cluster_name_on_cloud)}
        try:
            made = launcher.run_instances(**params)["Instances"]
        except Exception as exc:
            self._discard_partial(ec2, config.cluster_name_on_cloud, before)
            raise to_provision_error(exc, what) from exc
        made.sort(key=lambda i: (i.get("AmiLaunchIndex", 0), i["InstanceId"]))
        ids = [i["InstanceId"] for i in made]
        try:
            for r, iid in zip(ranks, ids, strict=False):
                self._tag_rank(ec2, config, iid, r)
        except Exception as exc:
            raise to_provision_error(exc, what) from exc
        return ids

    def _discard_partial(self, ec2: Any, cluster_name_on_cloud: str, before: set[str]) -> None:
        """Terminate nodes a failed launch left behind (best effort), so failover starts clean."""
        try:
            extra = [
                i["InstanceId"]
                for i in nodes.describe(ec2, cluster_name_on_cloud)
                if i["InstanceId"] not in before
            ]
            if extra:
                ec2.terminate_instances(InstanceIds=extra)
        except Exception as exc:
            self.say(f"  aws: could not clean up after a failed launch: {exc}")

    def _launch_params(
        self, ec2: Any, config: ProvisionConfig, region: str, zone: str, count: int
    ) -> dict[str, Any]:
        from stix_aws.iam import instance_profile

        resources = config.resources
        instance_type = str(resources.instance_type)
        ami = images.requested_image(getattr(resources, "image_id", None), region)
        if ami is None:
            gpu = bool(getattr(resources, "accelerators", None)) or images.is_gpu_type(
                instance_type
            )
            ami, device = images.default_image(ec2, region, instance_type, gpu)
        else:
            device = images.root_device(ec2, ami)
        provider = config.provider_config
        tags = {
            **(getattr(resources, "labels", None) or {}),
            **(_setting(config, "labels", {}) or {}),
            TAG_CLUSTER: config.cluster_name_on_cloud,
            TAG_CLUSTER_NAME: config.cluster_name,
            TAG_MANAGED: "true",
        }
        params: dict[str, Any] = {
            "ImageId": ami,
            "InstanceType": instance_type,
            "MinCount": count,
            "MaxCount": count,
            "SubnetId": network.subnet_id(ec2, provider["vpc_id"], zone),
            "SecurityGroupIds": [provider["security_group_id"]],
            "BlockDeviceMappings": images.block_devices(
                device, getattr(resources, "disk_size", None), getattr(resources, "disk_tier", None)
            ),
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": tag_list(tags)},
                {"ResourceType": "volume", "Tags": tag_list(tags)},
            ],
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
        }
        if provider.get("key_name"):
            params["KeyName"] = provider["key_name"]
        if getattr(resources, "use_spot", False):
            params["InstanceMarketOptions"] = {
                "MarketType": "spot",
                "SpotOptions": {
                    "SpotInstanceType": "one-time",
                    "InstanceInterruptionBehavior": "terminate",
                },
            }
        profile = instance_profile(provider)
        if profile:
            params["IamInstanceProfile"] = {"Name": profile}
        return params

    def _tag_ranks(self, ec2: Any, config: ProvisionConfig, pairs: list[tuple[int, str]]) -> None:
        for rank, instance_id in pairs:
            self._tag_rank(ec2, config, instance_id, rank)

    def _tag_rank(self, ec2: Any, config: ProvisionConfig, instance_id: str, rank: int) -> None:
        role = "head" if rank == 0 else "worker"
        name = config.cluster_name if rank == 0 else f"{config.cluster_name}-worker{rank}"
        ec2.create_tags(
            Resources=[instance_id],
            Tags=tag_list({TAG_RANK: str(rank), TAG_ROLE: role, "Name": name}),
        )

    # -- waiting and reading -----------------------------------------------------

    def _wait(
        self, ec2: Any, cluster_name_on_cloud: str, targets: set[str], timeout: float | None = None
    ) -> list[dict[str, Any]]:
        limit = float(
            timeout if timeout is not None else _setting(None, "wait_seconds", DEFAULT_WAIT_SECONDS)
        )
        deadline = time.monotonic() + limit
        delay = 0.1
        while True:
            found = nodes.describe(ec2, cluster_name_on_cloud, ())
            live = [i for i in found if nodes.state(i) in LIVE_STATES]
            if all(
                nodes.state(i) in targets for i in (live if targets != {"terminated"} else found)
            ):
                return found
            if time.monotonic() > deadline:
                states = sorted({nodes.state(i) for i in live})
                raise ProvisionError(
                    f"aws: cluster {cluster_name_on_cloud} did not reach {'/'.join(sorted(targets))} "
                    f"within {limit:.0f} s (now {', '.join(states)})",
                    scope="zone",
                )
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def wait_instances(self, cluster_name_on_cloud: str, region: str | None, state: str) -> None:
        """Block until every live node is ``UP`` (running) or ``STOPPED``.

        :raises stix.errors.NoCapacityError: a spot node was reclaimed while waiting for UP.
        """
        ec2 = client("ec2", _region(region))
        if state == "UP":
            found = _guard(
                "waiting",
                lambda: self._wait(
                    ec2, cluster_name_on_cloud, {"running", "terminated", "shutting-down"}
                ),
            )
            ranked = {nodes.rank(i) for i in found if nodes.state(i) == "running"}
            gone = [i for i in found if nodes.state(i) != "running" and nodes.rank(i) not in ranked]
            if gone:
                raise NoCapacityError(
                    f"aws: node {gone[0]['InstanceId']} of {cluster_name_on_cloud} was terminated while starting "
                    f"({gone[0].get('StateReason', {}).get('Message', 'no reason given')})"
                )
            if not ranked:
                raise ClusterError(f"aws: cluster {cluster_name_on_cloud} has no nodes")
        elif state == "STOPPED":
            _guard("waiting", lambda: self._wait(ec2, cluster_name_on_cloud, {"stopped"}))
        elif state == "TERMINATED":
            _guard("waiting", lambda: self._wait(ec2, cluster_name_on_cloud, {"terminated"}))
        else:
            raise ProvisionError(f"aws: cannot wait for state {state!r}", scope="abort")

    def get_cluster_info(self, cluster_name_on_cloud: str, region: str | None) -> ClusterInfo:
        """Addresses of the live nodes, head first, workers by rank."""
        region = _region(region)
        ec2 = client("ec2", region)
        found = _guard(
            "cluster info", lambda: nodes.by_rank(nodes.describe(ec2, cluster_name_on_cloud))
        )
        if not found:
            raise ClusterError(f"aws: cluster {cluster_name_on_cloud} has no nodes in {region}")
        infos = tuple(
            InstanceInfo(
                instance_id=i["InstanceId"],
                internal_ip=i.get("PrivateIpAddress") or "",
                external_ip=i.get("PublicIpAddress"),
                ssh_port=22,
                status=nodes.STATUS.get(nodes.state(i)) or "TERMINATED",
                tags=tag_dict(i.get("Tags")),
            )
            for i in found.values()
        )
        head = next(iter(found.values()))
        groups = [g["GroupId"] for g in head.get("SecurityGroups", [])]
        return ClusterInfo(
            cloud="aws",
            region=region,
            zone=head.get("Placement", {}).get("AvailabilityZone"),
            instances=infos,
            ssh_user=str(_setting(None, "ssh_user", DEFAULT_SSH_USER)),
            provider_config={
                "cluster_name": tag_dict(head.get("Tags")).get(TAG_CLUSTER_NAME)
                or cluster_name_on_cloud,
                "cluster_name_on_cloud": cluster_name_on_cloud,
                "ssh_private_key": _cluster_private_key(cluster_name_on_cloud),
                "region": region,
                "security_group_id": groups[0] if groups else None,
                "key_name": head.get("KeyName"),
                "use_spot": head.get("InstanceLifecycle") == "spot",
            },
        )

    def query_instances(
        self, cluster_name_on_cloud: str, region: str | None
    ) -> dict[str, str | None]:
        """``{instance id: UP|STOPPED|INIT|None}``; ``None`` for a node terminated under the cluster.

        A terminated instance is reported only while no live node holds its
        rank, so an old, replaced node does not look like a preemption.
        """
        ec2 = client("ec2", _region(region))
        found = _guard("query", lambda: nodes.describe(ec2, cluster_name_on_cloud, ()))
        live_ranks = {nodes.rank(i) for i in found if nodes.state(i) in LIVE_STATES}
        out: dict[str, str | None] = {}
        gone: dict[int | None, dict[str, Any]] = {}
        for inst in found:
            status = nodes.STATUS.get(nodes.state(inst))
            if status is not None:
                out[inst["InstanceId"]] = status
                continue
            r = nodes.rank(inst)
            if r in live_ranks:
                continue
            newest = gone.get(r)
            if newest is None or str(inst.get("LaunchTime", "")) > str(
                newest.get("LaunchTime", "")
            ):
                gone[r] = inst
        for inst in gone.values():
            out[inst["InstanceId"]] = None
        return out

    def list_clusters(self) -> list[dict[str, Any]] | None:
        """Every cluster with a live node tagged ``stix-cluster``, in every region STIX may
        have used (``aws.regions``, the catalog's regions, the profile's region).

        ``None`` when boto3 finds no credentials (AWS is not in use here). A region the
        account has not opted in to is passed over.
        """
        if session().get_credentials() is None:
            return None
        from stix.catalog.query import catalog_places

        configured = [str(r) for r in _setting(None, "regions", None) or []]
        regions = dict.fromkeys([*configured, *catalog_places("aws")[0], _region(None)])
        found: list[dict[str, Any]] = []
        for region in regions:
            try:
                found.extend(nodes.tagged_clusters(client("ec2", region), region))
            except Exception as exc:
                code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
                if code not in ("OptInRequired", "AuthFailure", "UnauthorizedOperation"):
                    raise to_provision_error(exc, f"listing clusters in {region}") from exc
        return found

    def autostop_commands(self, cluster_name: str) -> dict[str, list[str]]:
        """What the head's agent runs when autostop fires: a stdlib-only script that stops
        or terminates every node of the head's cluster with the instance profile's rights."""
        from stix.provision.nodescript import script_commands

        return script_commands(__file__, "node_autostop.py")

    # -- stop, terminate, ports ------------------------------------------------

    def stop_instances(self, cluster_name_on_cloud: str, region: str | None) -> None:
        """Stop every node (EBS disks are kept). Spot nodes cannot be stopped."""
        ec2 = client("ec2", _region(region))
        found = _guard("stop", lambda: nodes.describe(ec2, cluster_name_on_cloud))
        if any(i.get("InstanceLifecycle") == "spot" for i in found):
            raise ClusterError(
                f"aws: cluster {cluster_name_on_cloud} runs on spot instances, which cannot be stopped",
                hint="tear it down instead: stix down",
            )
        ids = [i["InstanceId"] for i in found if nodes.state(i) in ("pending", "running")]
        if ids:
            _guard("stop", lambda: ec2.stop_instances(InstanceIds=ids))

    def terminate_instances(self, cluster_name_on_cloud: str, region: str | None) -> None:
        """Terminate every node, then delete the cluster's security group and key pair."""
        ec2 = client("ec2", _region(region))
        found = _guard("down", lambda: nodes.describe(ec2, cluster_name_on_cloud))
        vpc = _guard("down", lambda: _cluster_vpc(ec2, _region(region), found))
        ids = [i["InstanceId"] for i in found]
        if ids:
            _guard("down", lambda: ec2.terminate_instances(InstanceIds=ids))
            _guard("down", lambda: self._wait(ec2, cluster_name_on_cloud, {"terminated"}))
        if vpc is not None:
            _guard("down", lambda: network.delete_security_group(ec2, cluster_name_on_cloud, vpc))
        _guard("down", lambda: network.delete_key_pair(ec2, cluster_name_on_cloud))
        from stix.runner.ssh_keys import remove_cluster_files

        remove_cluster_files(cluster_name_on_cloud)

    def open_ports(
        self, cluster_name_on_cloud: str, region: str | None, ports: tuple[str, ...]
    ) -> None:
        """Allow TCP ``ports`` from anywhere on the cluster's security group."""
        ec2 = client("ec2", _region(region))
        found = _guard("ports", lambda: nodes.describe(ec2, cluster_name_on_cloud))
        vpc = _guard("ports", lambda: _cluster_vpc(ec2, _region(region), found))
        group = (
            _guard("ports", lambda: network.find_security_group(ec2, cluster_name_on_cloud, vpc))
            if vpc is not None
            else None
        )
        if group is None:
            raise ClusterError(f"aws: cluster {cluster_name_on_cloud} has no security group")
        _guard("ports", lambda: network.open_ports(ec2, group, ports))


__all__ = ["AwsProvisioner"]
