"""Reading a cluster's Compute Engine instances: list by label, rank, status, addresses.

Instances are found with one aggregated list over every zone filtered on the
``stix-cluster`` label, so no verb needs to remember where the nodes are.
"""

from __future__ import annotations

import time
from typing import Any

from stix_gcp.machines import (
    LABEL_CLUSTER,
    LABEL_CLUSTER_NAME,
    LABEL_MANAGED,
    LABEL_RANK,
    label_value,
)
from stix_gcp.session import compute, project_id

# Compute Engine instance status -> STIX node status (None: gone or going).
STATUS = {
    "PROVISIONING": "INIT",
    "STAGING": "INIT",
    "RUNNING": "UP",
    "REPAIRING": "INIT",
    "STOPPING": "STOPPED",
    "SUSPENDING": "STOPPED",
    "SUSPENDED": "STOPPED",
    "TERMINATED": "STOPPED",
}
OP_TIMEOUT = 300.0


def short(url: str) -> str:
    """The last part of a resource URL (``.../zones/us-east4-a`` -> ``us-east4-a``)."""
    return url.rsplit("/", 1)[-1]


def rank(instance: Any) -> int:
    """The node's rank from its label (a node without one sorts last)."""
    try:
        return int(instance.labels.get(LABEL_RANK, "999999"))
    except ValueError:
        return 999999


def is_spot(instance: Any) -> bool:
    scheduling = instance.scheduling
    return scheduling.provisioning_model == "SPOT" or bool(scheduling.preemptible)


def list_cluster(cluster_name_on_cloud: str) -> list[Any]:
    """Every instance labelled with the cluster, in any zone, ordered by rank then name."""
    client = compute("InstancesClient")
    found: list[Any] = []
    pages = client.aggregated_list(
        request={
            "project": project_id(),
            "filter": f'labels.{LABEL_CLUSTER} = "{label_value(cluster_name_on_cloud)}"',
        }
    )
    for _scope, scoped in pages:
        found.extend(scoped.instances)
    found.sort(key=lambda i: (rank(i), i.name))
    return found


def tagged_clusters() -> list[dict[str, Any]]:
    """One ``list_clusters`` entry per cluster with an instance labelled ``stix-managed``,
    in any zone of the project (one aggregated list)."""
    client = compute("InstancesClient")
    pages = client.aggregated_list(
        request={"project": project_id(), "filter": f'labels.{LABEL_MANAGED} = "true"'}
    )
    found: dict[str, dict[str, Any]] = {}
    for _scope, scoped in pages:
        for inst in scoped.instances:
            cno = inst.labels.get(LABEL_CLUSTER)
            if cno:
                found.setdefault(
                    cno,
                    {
                        "cluster_name": inst.labels.get(LABEL_CLUSTER_NAME),
                        "cluster_name_on_cloud": cno,
                        "region": short(inst.zone).rsplit("-", 1)[0],
                    },
                )
    return list(found.values())


def by_rank(found: list[Any]) -> dict[int, Any]:
    """``{rank: instance}`` for the instances that still exist (first of each rank)."""
    out: dict[int, Any] = {}
    for inst in found:
        out.setdefault(rank(inst), inst)
    return dict(sorted(out.items()))


def addresses(instance: Any) -> tuple[str, str | None]:
    """``(internal IP, external IP or None)`` of an instance."""
    nics = list(instance.network_interfaces)
    if not nics:
        return "", None
    nic = nics[0]
    external = next((a.nat_i_p for a in nic.access_configs if a.nat_i_p), None)
    return nic.network_i_p or "", external


def wait_operation(operation: Any, timeout: float = OP_TIMEOUT) -> None:
    """Block until a Compute Engine operation is done; its error is raised as the client's."""
    operation.result(timeout=timeout)


def poll(check: Any, timeout: float, what: str) -> Any:
    """Call ``check()`` until it returns something true, backing off up to 5 s."""
    from stix.errors import ProvisionError

    deadline = time.monotonic() + timeout
    delay = 0.1
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise ProvisionError(f"gcp: {what} within {timeout:.0f} s", scope="zone")
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


__all__ = [
    "STATUS",
    "addresses",
    "by_rank",
    "is_spot",
    "list_cluster",
    "poll",
    "rank",
    "short",
    "tagged_clusters",
]
