"""Reconcile the state database with what the cloud says (``stix status --refresh``)."""

from __future__ import annotations

from typing import Any

from stix.state.clusters import INIT, STOPPED, UP, ClusterRecord, ClusterStore


def live_status(record: ClusterRecord, registry: Any = None) -> str | None:
    """The cluster's status from the cloud: UP, STOPPED, INIT (mixed/unhealthy) or None (gone)."""
    from stix.plugins import get_registry

    handle = record.handle or {}
    name_on_cloud = handle.get("cluster_name_on_cloud")
    if not name_on_cloud or not record.cloud:
        return None
    provisioner = (registry or get_registry()).provisioner(record.cloud)
    states = provisioner.query_instances(name_on_cloud, record.region)
    live = [s for s in states.values() if s is not None]
    if not live:
        return None
    if len(live) == len(states) == record.num_nodes and all(s == "UP" for s in live):
        return UP if _healthy(handle, record.name) else INIT
    if len(live) == len(states) and all(s == "STOPPED" for s in live):
        return STOPPED
    return INIT


def _healthy(handle: dict[str, Any], name: str) -> bool:
    from stix.backend.handle import ClusterHandle
    from stix.errors import StixError

    if not handle.get("agent_path") or not handle.get("runners"):
        return False  # the launch never got as far as starting the agent
    h = ClusterHandle.from_dict(handle)
    from stix.backend.agent_client import AgentClient

    try:
        reply = AgentClient(h.head_runner(), h.agent_path or "", h.python, name).call("health")
    except (StixError, OSError):
        return False
    return bool(reply.get("daemon_pid"))


def _release_leftovers(record: ClusterRecord, registry: Any) -> None:
    """Let the cloud remove what outlives the nodes (security groups, key pairs): terminate is idempotent."""
    from stix.errors import StixError
    from stix.plugins import get_registry

    name_on_cloud = (record.handle or {}).get("cluster_name_on_cloud")
    if not name_on_cloud or not record.cloud:
        return
    try:
        provisioner = (registry or get_registry()).provisioner(record.cloud)
        provisioner.terminate_instances(name_on_cloud, record.region)
    except StixError:
        pass  # the record still goes: the nodes are gone, and down can be run again


def forget_gone(record: ClusterRecord, store: ClusterStore) -> None:
    """Drop what this machine keeps about a cluster whose nodes are gone.

    Its ssh config entries and known hosts, its record (closing its cost-report row)
    and its use of buckets (``persistent: false`` ones go with it).
    """
    from stix.sshconfig import forget_cluster
    from stix.storage.lifecycle import release_cluster

    forget_cluster(record.name, (record.handle or {}).get("cluster_name_on_cloud"))
    store.remove(record.name)
    release_cluster(record.name)


def refresh(
    record: ClusterRecord, store: ClusterStore, registry: Any = None
) -> ClusterRecord | None:
    """Update one cluster's record from the cloud; None when the cluster is gone (removed)."""
    status = live_status(record, registry)
    if status is None:  # gone (autodown, preempted, deleted outside stix)
        _release_leftovers(record, registry)
        forget_gone(record, store)
        return None
    if status != record.status:
        return store.set_status(record.name, status)
    return record
