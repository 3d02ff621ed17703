"""The generic VM path on real sshd nodes: a test cloud whose provisioner hands out harness
nodes and returns no runners, so the core builds SSH runners, ssh config entries and the
head's access to workers itself (as for AWS). Launch, multi-node job, stop/start, autodown,
down of a half-gone cluster.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from stix.hookspecs import hookimpl
from stix.interfaces import (
    CheckResult,
    Cloud,
    ClusterInfo,
    InstanceInfo,
    ProvisionConfig,
    Provisioner,
    ProvisionRecord,
)

pytestmark = pytest.mark.e2e


class FakeVms:
    """The test cloud's 'API': which harness nodes each cluster holds, and their state."""

    def __init__(self, harness: Any, markers: Path) -> None:
        self.harness = harness
        self.markers = markers  # the head writes "<cno>.down" here to delete its cluster
        self.clusters: dict[str, dict[str, Any]] = {}

    def nodes(self, cno: str) -> list[Any]:
        return [self.harness.nodes[i] for i in self.clusters[cno]["nodes"]]

    def wipe(self, node: Any) -> None:
        """One machine is deleted: processes die, the disk is wiped (the login key stays)."""
        self.harness.kill_node(node)
        for path in node.home.iterdir():
            if path.name != ".ssh":
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()  # a file, or a link the job left (never followed)
        self.harness.start_sshd(node)

    def destroy(self, cno: str) -> None:
        """Terminate the cluster's machines."""
        for node in self.nodes(cno):
            self.wipe(node)
        del self.clusters[cno]


def make_plugin(vms: FakeVms) -> Any:
    class HarnessVmCloud(Cloud):
        name: ClassVar[str] = "harnessvm"
        display_name: ClassVar[str] = "Harness VMs"
        features: ClassVar[frozenset[str]] = frozenset(
            {"multi_node", "stop", "autostop", "autodown"}
        )
        uses_catalog: ClassVar[bool] = False
        default_cpus: ClassVar[str] = "1+"

        def check(self) -> CheckResult:
            return CheckResult(True, "harness nodes")

        def live_offers(self, resources: Any, num_nodes: int) -> list[Any]:
            from stix.catalog.offer import Offer

            taken = {i for c in vms.clusters.values() for i in c["nodes"]}
            if len(vms.harness.nodes) - len(taken) < num_nodes:
                return []
            return [Offer("harnessvm", "hvm.small", 1.0, 1.0, 0.0, region="hv")]

    class HarnessVmProvisioner(Provisioner):
        name: ClassVar[str] = "harnessvm"

        def run_instances(self, config: ProvisionConfig) -> ProvisionRecord:
            cno = config.cluster_name_on_cloud
            if cno in vms.clusters:  # resume a stopped cluster: boot its machines
                for node in vms.nodes(cno):
                    vms.harness.start_sshd(node)
                vms.clusters[cno]["status"] = "UP"
            else:
                taken = {i for c in vms.clusters.values() for i in c["nodes"]}
                free = [n.index for n in vms.harness.nodes if n.index not in taken]
                vms.clusters[cno] = {"nodes": free[: config.count], "status": "UP"}
            ids = tuple(f"i-{i}" for i in vms.clusters[cno]["nodes"])
            return ProvisionRecord("harnessvm", "hv", None, cno, ids[0], ids)

        def wait_instances(self, cno: str, region: str | None, state: str) -> None:
            return None

        def get_cluster_info(self, cno: str, region: str | None) -> ClusterInfo:
            nodes = vms.nodes(cno)
            return ClusterInfo(
                cloud="harnessvm",
                region="hv",
                zone=None,
                instances=tuple(
                    InstanceInfo(
                        instance_id=f"i-{n.index}",
                        internal_ip=n.ip,
                        ssh_port=n.port,
                        tags={"ssh_user": n.user},
                    )
                    for n in nodes
                ),
                ssh_user=nodes[0].user,
                provider_config={"cluster_name": cno, "ssh_private_key": str(vms.harness.key)},
            )

        def query_instances(self, cno: str, region: str | None) -> dict[str, str | None]:
            if (vms.markers / f"{cno}.down").exists() and cno in vms.clusters:
                vms.destroy(cno)
            if cno not in vms.clusters:
                return {}
            status = vms.clusters[cno]["status"]
            return {f"i-{i}": status for i in vms.clusters[cno]["nodes"]}

        def stop_instances(self, cno: str, region: str | None) -> None:
            for node in vms.nodes(cno):
                vms.harness.kill_node(node)
            vms.clusters[cno]["status"] = "STOPPED"

        def terminate_instances(self, cno: str, region: str | None) -> None:
            if cno in vms.clusters:
                vms.destroy(cno)

        def autostop_commands(self, cluster_name: str) -> dict[str, list[str]]:
            from stix.state.clusters import ClusterStore

            record = ClusterStore().get(cluster_name)
            cno = (record.handle or {})["cluster_name_on_cloud"] if record else cluster_name
            return {"down": ["touch", str(vms.markers / f"{cno}.down")]}

    class Plugin:
        @hookimpl
        def register_clouds(self, register: Any) -> None:
            register(HarnessVmCloud)

        @hookimpl
        def register_provisioners(self, register: Any) -> None:
            register(HarnessVmProvisioner)

    return Plugin()


@pytest.fixture
def vm_cloud(ssh_nodes: Any) -> Iterator[FakeVms]:
    from stix.plugins import Registry, reset_registry
    from stix.runner.ssh_conn import POOL

    if len(ssh_nodes.nodes) < 3:
        pytest.skip("needs 3 harness nodes")
    markers = Path(tempfile.mkdtemp(prefix="stix-vm-markers-"))  # the node users can reach it
    markers.chmod(0o777)
    vms = FakeVms(ssh_nodes, markers)
    registry = Registry()
    reset_registry(registry)
    registry.register(make_plugin(vms), "harnessvm")
    try:
        yield vms
    finally:
        for cno in list(vms.clusters):
            vms.destroy(cno)
        reset_registry(None)
        POOL.close_all()
        shutil.rmtree(markers, ignore_errors=True)


def _task(tmp_path: Path, name: str, num_nodes: int, run: str, **extra: Any) -> str:
    doc = {"name": name, "num_nodes": num_nodes, "resources": {"infra": "harnessvm"}, "run": run}
    doc.update(extra)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def _ssh(alias: str, command: str) -> subprocess.CompletedProcess[str]:
    config = Path.home() / ".ssh" / "config"
    return subprocess.run(
        ["ssh", "-F", str(config), alias, command], capture_output=True, text=True, timeout=30
    )


def _wait(predicate: Any, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_vm_cluster_launch_job_stop_start_down(vm_cloud: FakeVms, tmp_path: Path) -> None:
    import stix.sdk as sdk
    from stix.runner.ssh_keys import ssh_dir
    from stix.sshconfig import cluster_file

    wd = tmp_path / "wd"
    wd.mkdir()
    (wd / "in.txt").write_text("data")
    run = 'echo "$SKYPILOT_NODE_RANK $(echo $SKYPILOT_NODE_IPS) $(cat in.txt)" > ~/rank.txt'
    task = _task(tmp_path, "vm", 3, run, workdir=str(wd), setup="echo set > ~/setup.txt")
    result = sdk.launch(task, "vmc")
    assert result.status == "SUCCEEDED"
    [cno] = vm_cloud.clusters
    nodes = vm_cloud.nodes(cno)
    ips = " ".join(n.ip for n in nodes)
    for rank, node in enumerate(nodes):
        assert (node.home / "rank.txt").read_text() == f"{rank} {ips} data\n"
        assert (node.home / "setup.txt").exists()
    # `ssh vmc` and `ssh vmc-worker2` work through the per-cluster config file.
    assert cluster_file("vmc").exists()
    assert _ssh("vmc", "whoami").stdout.strip() == nodes[0].user
    assert _ssh("vmc-worker2", "whoami").stdout.strip() == nodes[2].user

    sdk.stop("vmc")
    assert [r.status for r in sdk.status(["vmc"], refresh=True)] == ["STOPPED"]
    assert _ssh("vmc", "true").returncode != 0  # the machine is off
    sdk.start("vmc")
    (nodes[1].home / "rank.txt").unlink()
    again = sdk.launch(_task(tmp_path, "vm2", 3, run), "vmc")
    assert again.status == "SUCCEEDED"
    assert (nodes[1].home / "rank.txt").read_text().startswith("1 ")
    assert _ssh("vmc-worker1", "whoami").stdout.strip() == nodes[1].user

    sdk.down("vmc")
    assert not cluster_file("vmc").exists()
    assert not (ssh_dir() / "known_hosts" / cno).exists()
    assert vm_cloud.clusters == {}


def test_autodown_and_half_gone_down_remove_ssh_entries(vm_cloud: FakeVms, tmp_path: Path) -> None:
    import stix.sdk as sdk
    from stix.sshconfig import cluster_file

    # detached with a short idle time: the head's own autodown removes the cluster
    sdk.launch(
        _task(tmp_path, "auto", 2, "true"),
        "auto",
        down=True,
        detach_run=True,
        idle_minutes_to_autostop=0.02,
    )
    assert cluster_file("auto").exists()
    [cno] = vm_cloud.clusters
    _wait(lambda: (vm_cloud.markers / f"{cno}.down").exists(), what="the head's autodown")
    assert sdk.status(["auto"], refresh=True) == []
    assert not cluster_file("auto").exists()

    sdk.launch(_task(tmp_path, "half", 2, "true"), "half")
    [cno] = vm_cloud.clusters
    worker = vm_cloud.nodes(cno)[1]
    vm_cloud.wipe(worker)  # one machine was deleted outside stix
    vm_cloud.clusters[cno]["nodes"].remove(worker.index)
    sdk.down("half")
    assert not cluster_file("half").exists()
    assert sdk.status(["half"]) == []
