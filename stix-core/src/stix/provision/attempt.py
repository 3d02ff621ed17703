"""One provisioning attempt on one candidate: bootstrap, run, wait, describe; clean up on error."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import attrs

from stix.errors import ProvisionError, StixError
from stix.interfaces import ClusterInfo, ProvisionConfig, ProvisionRecord

if TYPE_CHECKING:
    from stix.optimizer import Candidate
    from stix.runner.base import Runner


@attrs.frozen
class Provisioned:
    """A successful attempt: where the nodes are and how to reach them."""

    candidate: Any
    record: ProvisionRecord
    info: ClusterInfo
    runners: tuple[Any, ...]


def name_on_cloud(cluster_name: str, user: str) -> str:
    """The cloud-side cluster name: the user's name plus a short per-user hash."""
    digest = hashlib.sha256(user.encode()).hexdigest()[:4]
    return f"{cluster_name}-{digest}"


def command_runners(provisioner: Any, info: ClusterInfo) -> list[Runner]:
    """Runners for every node: the provisioner's own when it has them (local, k8s), else SSH.

    See :meth:`stix.interfaces.Provisioner.get_command_runners`.
    """
    get = getattr(provisioner, "get_command_runners", None)
    runners = get(info) if get is not None else None
    if runners is not None:
        return list(runners)
    try:
        from stix.runner.ssh import ssh_runners  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise StixError(f"{info.cloud}: no command runner available for its nodes") from exc
    return list(ssh_runners(info))


def provision(
    provisioner: Any,
    candidate: Candidate,
    *,
    cluster_name: str,
    cluster_name_on_cloud: str,
    resources: Any,
    resume_stopped: bool = True,
    terminate_on_error: bool = True,
    docker_login: dict[str, str] | None = None,
) -> Provisioned:
    """Create (or resume) the cluster on ``candidate``; on failure remove what was made.

    :raises stix.errors.ProvisionError: with the scope failover should block.
    """
    zones = (candidate.zone,) if candidate.zone else ()
    ports = tuple(getattr(resources, "ports", None) or ())
    config = ProvisionConfig(
        cluster_name=cluster_name,
        cluster_name_on_cloud=cluster_name_on_cloud,
        count=candidate.num_nodes,
        resources=resources,
        region=candidate.region,
        zones=zones,
        resume_stopped=resume_stopped,
        ports=ports,
        docker_login=docker_login or None,
    )
    try:
        config = provisioner.bootstrap(config)
        record = provisioner.run_instances(config)
        provisioner.wait_instances(cluster_name_on_cloud, record.region, "UP")
        info = provisioner.get_cluster_info(cluster_name_on_cloud, record.region)
        if ports:
            provisioner.open_ports(cluster_name_on_cloud, record.region, ports)
        runners = command_runners(provisioner, info)
    except BaseException as exc:
        if terminate_on_error:
            try:
                provisioner.terminate_instances(cluster_name_on_cloud, candidate.region)
            except Exception:  # the original error matters more
                pass
        if isinstance(exc, StixError) and not isinstance(exc, ProvisionError):
            raise ProvisionError(exc.message, exc.hint, scope="zone") from exc
        raise
    return Provisioned(candidate, record, info, tuple(runners))
