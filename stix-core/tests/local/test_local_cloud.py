"""The local cloud: live offers from host capacity, sandbox provisioning, stop/terminate, preemption."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from stix.clouds.local import capacity, sandbox
from stix.clouds.local.hooks import LocalCloud
from stix.clouds.local.provisioner import LocalProvisioner, preempt
from stix.errors import NoCapacityError
from stix.interfaces import ProvisionConfig
from stix.runner.local import LocalRunner
from stix.task import Resources
from stix.testing.processes import pid_alive


@pytest.fixture
def host(monkeypatch):
    def set_gpus(value: str | None):
        if value is None:
            monkeypatch.delenv("STIX_LOCAL_GPUS", raising=False)
        else:
            monkeypatch.setenv("STIX_LOCAL_GPUS", value)
        capacity.host_capacity.cache_clear()
        return capacity.host_capacity()

    yield set_gpus
    capacity.host_capacity.cache_clear()


def _config(name: str, count: int = 1, **res) -> ProvisionConfig:
    return ProvisionConfig(name, f"{name}-x", count, Resources(**res), "local")


def test_offers_follow_the_host(host):
    cap = host(None)
    [offer] = LocalCloud().live_offers(Resources(), 1)
    assert (offer.vcpus, offer.memory_gib, offer.price) == (cap.cpus, cap.memory_gib, 0.0)
    [sized] = LocalCloud().live_offers(Resources(cpus="1"), 1)
    assert sized.vcpus == 1
    assert LocalCloud().live_offers(Resources(cpus=f"{cap.cpus + 1:g}+"), 1) == []
    assert LocalCloud().live_offers(Resources(accelerators={"A100": 1}), 1) == []
    assert LocalCloud().live_offers(Resources(instance_type="m5.large"), 1) == []


def test_simulated_gpus(host):
    host("FakeGPU:2")
    [offer] = LocalCloud().live_offers(Resources(accelerators={"FakeGPU": 2}), 1)
    assert offer.accelerators == {"FakeGPU": 2}
    assert LocalCloud().live_offers(Resources(accelerators={"FakeGPU": 4}), 1) == []


def test_run_stop_start_terminate(stix_home, host):
    host(None)
    prov = LocalProvisioner()
    record = prov.run_instances(_config("c", 2))
    assert record.created_instance_ids == ("c-x-0", "c-x-1")
    info = prov.get_cluster_info("c-x", "local")
    ips = [i.internal_ip for i in info.instances]
    assert len(set(ips)) == 2 and all(ip.startswith("127.") for ip in ips)
    assert prov.query_instances("c-x", "local") == {"c-x-0": "UP", "c-x-1": "UP"}
    runners = prov.get_command_runners(info)
    (Path(info.instances[0].tags["home"]) / "disk.txt").write_text("kept")
    # a background process of node 1, found again through its marker
    runners[1].run("sleep 300 > /dev/null 2>&1 &")
    node1 = Path(info.instances[1].tags["node_id"])
    pids = sandbox.node_pids(node1)
    assert pids
    prov.stop_instances("c-x", "local")
    assert sandbox.node_pids(node1) == []
    assert set(prov.query_instances("c-x", "local").values()) == {"STOPPED"}
    record = prov.run_instances(_config("c", 2))
    assert record.resumed_instance_ids == ("c-x-0", "c-x-1")
    assert (Path(info.instances[0].tags["home"]) / "disk.txt").read_text() == "kept"
    prov.terminate_instances("c-x", "local")
    assert prov.query_instances("c-x", "local") == {}
    assert not sandbox.cluster_dir("c-x").exists()
    prov.terminate_instances("c-x", "local")  # idempotent


def test_missing_accelerator_is_no_capacity(stix_home, host):
    host(None)
    with pytest.raises(NoCapacityError):
        LocalProvisioner().run_instances(_config("g", accelerators={"H100": 8}))


def test_preemption_removes_nodes(stix_home, host):
    host(None)
    prov = LocalProvisioner()
    prov.run_instances(_config("s", 2, use_spot=True))
    assert preempt("s-x", 1) == ["s-x-1"]
    assert prov.query_instances("s-x", "local") == {"s-x-0": "UP", "s-x-1": None}
    prov.run_instances(_config("s", 2, use_spot=True))  # relaunch recreates the node
    assert prov.query_instances("s-x", "local")["s-x-1"] == "UP"


def test_preempt_after_config(stix_home, host, monkeypatch):
    host(None)
    (stix_home / "config.yaml").write_text("local:\n  preempt_after_seconds: 0\n")
    prov = LocalProvisioner()
    prov.run_instances(_config("p", 1, use_spot=True))
    assert prov.query_instances("p-x", "local") == {"p-x-0": None}


def test_local_runner_run_stream_put_sync(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    runner = LocalRunner(home, str(tmp_path / "node"))
    result = runner.run("echo $HOME; echo err >&2; exit 3", env={"X": "1"})
    assert (result.returncode, result.stdout.strip(), result.stderr.strip()) == (
        3,
        str(home),
        "err",
    )
    chunks: list[bytes] = []
    assert runner.run(["bash", "-c", "echo a; echo b"], stream=chunks.append).ok
    assert b"".join(chunks) == b"a\nb\n"
    src = tmp_path / "src"
    (src / "skip").mkdir(parents=True)
    (src / "keep.py").write_text("x")
    (src / "skip" / "f").write_text("y")
    (src / "a.log").write_text("z")
    runner.sync(src, "~/sky_workdir", ["skip/", "*.log"])
    assert sorted(p.name for p in (home / "sky_workdir").iterdir()) == ["keep.py"]
    runner.put(src / "keep.py", "~/deep/copy.py")
    assert (home / "deep" / "copy.py").read_text() == "x"


def test_kill_node_reaches_children_that_left_the_group(tmp_path):
    node = tmp_path / "n"
    home = node / "home"
    home.mkdir(parents=True)
    runner = LocalRunner(home, str(node))
    runner.run("setsid sleep 300 > /dev/null 2>&1 & echo $! > ~/pid")
    pid = int((home / "pid").read_text())
    sandbox.kill_node(node, grace=0.2)
    # Dead is enough: an orphan's zombie waits for init to reap it, which is not ours to do.
    deadline = time.time() + 5
    while time.time() < deadline:
        if not pid_alive(pid):
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        raise AssertionError("process survived kill_node")
