"""The ``local`` provisioner: creates, stops and removes sandbox nodes on this machine.

Spot nodes can be preempted on purpose (:func:`preempt`, or ``local.preempt_after_seconds``
in config), which removes the node as a cloud would, so that recovery is testable.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import Any, ClassVar

from stix.clouds.local import sandbox
from stix.errors import NoCapacityError
from stix.interfaces import (
    ClusterInfo,
    InstanceInfo,
    ProvisionConfig,
    Provisioner,
    ProvisionRecord,
)

REGION = "local"


def _instance_id(cluster_name_on_cloud: str, index: int) -> str:
    return f"{cluster_name_on_cloud}-{index}"


def _preempt_after() -> float | None:
    from stix.config import load_config

    value = load_config().get("local.preempt_after_seconds")
    return float(value) if value is not None else None


class LocalProvisioner(Provisioner):
    """Sandboxes under ``$STIX_HOME/local``; every verb is idempotent."""

    name: ClassVar[str] = "local"

    def run_instances(self, config: ProvisionConfig) -> ProvisionRecord:
        from stix.clouds.local.capacity import host_capacity

        acc = config.resources.accelerator() if config.resources is not None else None
        if acc is not None:
            cap = host_capacity()
            if (cap.accelerator or "").lower() != acc[0].lower() or cap.accelerator_count < acc[1]:
                raise NoCapacityError(
                    f"local: this machine has no {acc[0]}:{acc[1]:g} "
                    f"(found {cap.accelerator or 'no GPUs'})"
                )
        root = sandbox.cluster_dir(config.cluster_name_on_cloud)
        created, resumed = [], []
        now = time.time()
        for index in range(config.count):
            node = root / f"node-{index}"
            info = sandbox.read_node(node)
            iid = _instance_id(config.cluster_name_on_cloud, index)
            if info is None or info.get("preempted"):
                (node / "home").mkdir(parents=True, exist_ok=True)
                info = {
                    "index": index,
                    "ip": sandbox.node_ip(config.cluster_name_on_cloud, index),
                    "use_spot": bool(config.resources.use_spot) if config.resources else False,
                    "created_at": now,
                }
                created.append(iid)
            elif info.get("status") == "STOPPED":
                resumed.append(iid)
            info.update(status="UP", started_at=now)
            sandbox.write_node(node, info)
        return ProvisionRecord(
            cloud="local",
            region=REGION,
            zone=None,
            cluster_name_on_cloud=config.cluster_name_on_cloud,
            head_instance_id=_instance_id(config.cluster_name_on_cloud, 0),
            created_instance_ids=tuple(created),
            resumed_instance_ids=tuple(resumed),
        )

    def wait_instances(self, cluster_name_on_cloud: str, region: str | None, state: str) -> None:
        return None  # sandboxes change state synchronously

    def get_cluster_info(self, cluster_name_on_cloud: str, region: str | None) -> ClusterInfo:
        instances = []
        for node in sandbox.node_dirs(cluster_name_on_cloud):
            info = sandbox.read_node(node) or {}
            index = int(node.name[5:])
            instances.append(
                InstanceInfo(
                    instance_id=_instance_id(cluster_name_on_cloud, index),
                    internal_ip=info.get("ip") or sandbox.node_ip(cluster_name_on_cloud, index),
                    external_ip=None,
                    status=info.get("status", "UP"),
                    tags={"home": str(node / "home"), "node_id": str(node)},
                )
            )
        return ClusterInfo(
            cloud="local",
            region=REGION,
            zone=None,
            instances=tuple(instances),
            ssh_user=None,
            provider_config={"root": str(sandbox.cluster_dir(cluster_name_on_cloud))},
        )

    def query_instances(
        self, cluster_name_on_cloud: str, region: str | None
    ) -> dict[str, str | None]:
        self._simulate_preemption(cluster_name_on_cloud)
        out: dict[str, str | None] = {}
        for node in sandbox.node_dirs(cluster_name_on_cloud):
            info = sandbox.read_node(node)
            iid = _instance_id(cluster_name_on_cloud, int(node.name[5:]))
            out[iid] = None if info is None or info.get("preempted") else info.get("status", "UP")
        return out

    def stop_instances(self, cluster_name_on_cloud: str, region: str | None) -> None:
        for node in sandbox.node_dirs(cluster_name_on_cloud):
            sandbox.kill_node(node)
            info = sandbox.read_node(node)
            if info is not None and not info.get("preempted"):
                info["status"] = "STOPPED"
                sandbox.write_node(node, info)

    def terminate_instances(self, cluster_name_on_cloud: str, region: str | None) -> None:
        for node in sandbox.node_dirs(cluster_name_on_cloud):
            sandbox.kill_node(node)
        shutil.rmtree(sandbox.cluster_dir(cluster_name_on_cloud), ignore_errors=True)

    def get_command_runners(self, info: ClusterInfo) -> list[Any]:
        """One :class:`~stix.runner.local.LocalRunner` per node, head first."""
        from pathlib import Path

        from stix.runner.local import LocalRunner

        return [
            LocalRunner(Path(i.tags["home"]), i.tags["node_id"], name=i.instance_id)
            for i in info.instances
        ]

    def list_clusters(self) -> list[dict[str, Any]]:
        """Every sandbox cluster under ``$STIX_HOME/local`` (the name from its head's agent)."""
        import json

        root = sandbox.clusters_root()
        out: list[dict[str, Any]] = []
        for folder in sorted(root.iterdir()) if root.is_dir() else []:
            if not sandbox.node_dirs(folder.name):
                continue
            agent = folder / "node-0" / "home" / ".stix_agent" / "cluster.json"
            try:
                name = json.loads(agent.read_text()).get("cluster_name")
            except (OSError, ValueError):
                name = None
            out.append(
                {"cluster_name": name, "cluster_name_on_cloud": folder.name, "region": REGION}
            )
        return out

    def autostop_commands(self, cluster_name: str) -> dict[str, list[str]]:
        """What the head's agent runs when autostop fires (stop or down through the SDK)."""
        from stix.config import stix_home

        base = [sys.executable, "-m", "stix.clouds.local.autostop", cluster_name]
        base += ["--stix-home", str(stix_home())]
        return {"stop": [*base, "stop"], "down": [*base, "down"]}

    def _simulate_preemption(self, cluster_name_on_cloud: str) -> None:
        after = _preempt_after()
        if after is None:
            return
        for node in sandbox.node_dirs(cluster_name_on_cloud):
            info = sandbox.read_node(node) or {}
            started = info.get("started_at") or info.get("created_at") or time.time()
            if (
                info.get("use_spot")
                and info.get("status") == "UP"
                and time.time() - started >= after
            ):
                preempt_node(node)


def preempt_node(node: Any) -> None:
    """Simulate a spot preemption: the node's processes die and the node disappears."""
    sandbox.kill_node(node, grace=0.2)
    info = sandbox.read_node(node) or {}
    info.update(preempted=True, status=None)
    sandbox.write_node(node, info)
    shutil.rmtree(node / "home", ignore_errors=True)


def preempt(cluster_name_on_cloud: str, node_index: int | None = None) -> list[str]:
    """Preempt one node (or all with ``node_index=None``); return the preempted instance ids."""
    done = []
    for node in sandbox.node_dirs(cluster_name_on_cloud):
        index = int(node.name[5:])
        if node_index is None or index == node_index:
            preempt_node(node)
            done.append(_instance_id(cluster_name_on_cloud, index))
    return done
