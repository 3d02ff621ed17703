"""Runtime setup on a fresh or restarted cluster: ship the agent, write its node list, start it."""

from __future__ import annotations

from typing import Any

from stix.backend.agent_client import AgentClient
from stix.backend.handle import AGENT_DIR, ClusterHandle
from stix.runner.base import Runner


def agent_zipapp() -> Any:
    """The agent zipapp for this version, built once under ``$STIX_HOME/agent``."""
    from stix.agent.build import cached_zipapp
    from stix.config import stix_home

    return cached_zipapp(stix_home() / "agent")


def node_capacity(launched: dict[str, Any]) -> dict[str, Any]:
    """Agent capacity of one node from the launched resources record."""
    count = int(launched.get("accelerator_count") or 0)
    return {
        "cpus": float(launched.get("vcpus") or 1),
        "memory": float(launched.get("memory_gib") or 0),
        "gpus": count,
        "gpu_ids": list(range(count)),
    }


def install_agent(
    handle: ClusterHandle,
    runners: list[Runner],
    *,
    launched: dict[str, Any],
    autostop_commands: dict[str, list[str]] | None,
    autostop_env: dict[str, str] | None = None,
) -> ClusterHandle:
    """Copy the agent to the head, describe every node to it and start its daemon.

    ``autostop_env`` (secrets the autostop commands need) goes to the head on standard
    input and is kept there in a file only the node's user can read.

    :returns: the handle with ``agent_path`` and ``python`` filled in.
    """
    import attrs

    pyz = agent_zipapp()
    head = runners[0]
    agent_path = f"{AGENT_DIR}/{pyz.name}"
    head.put(pyz, agent_path)
    capacity = node_capacity(launched)
    nodes = [
        {"rank": i, "ip": ip, **capacity, "exec": runner.node_spec()}
        for i, (ip, runner) in enumerate(zip(handle.ips, runners, strict=True))
    ]
    info = {
        "cluster_name": handle.cluster_name,
        "cluster_name_on_cloud": handle.cluster_name_on_cloud,
        "instance_ids": list(handle.instance_ids),
        "cloud": handle.cloud,
        "region": handle.region,
        "zone": handle.zone,
        "nodes": nodes,
        "autostop_commands": autostop_commands or {},
        "autostop_env": autostop_env or {},
    }
    handle = attrs.evolve(handle, agent_path=agent_path, python=head.python())
    client(handle).call("init", stdin=info)
    return handle


def client(handle: ClusterHandle) -> AgentClient:
    """An agent client for the cluster's head node."""
    return AgentClient(
        handle.head_runner(), handle.agent_path or "", handle.python, handle.cluster_name
    )
