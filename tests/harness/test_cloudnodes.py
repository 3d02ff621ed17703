"""Fake-cloud nodes: instances are real SSH machines with one login user, private homes,
the keys the 'cloud' installed, and a life cycle (stop, preempt, delete) that really happens.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from harness.cloudnodes import CloudNodes, Faults, NoFreeNode


@pytest.fixture
def user_key(tmp_path: Path) -> tuple[Path, str]:
    key = tmp_path / "id_user"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key, Path(str(key) + ".pub").read_text()


def _ssh(cloud: CloudNodes, ip: str, key: Path, command: str, timeout: float = 20):
    argv = [
        "ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "ConnectTimeout=15", "-o", "LogLevel=ERROR", f"{cloud.user}@{ip}", command,
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def _wait_ssh(cloud: CloudNodes, ip: str, key: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while _ssh(cloud, ip, key, "true").returncode != 0:
        assert time.monotonic() < deadline, f"{ip} never answered SSH"
        time.sleep(0.1)


def test_instances_share_a_login_user_but_not_a_home(cloud: CloudNodes, user_key) -> None:
    key, pub = user_key
    a = cloud.acquire("i-a", [pub])
    b = cloud.acquire("i-b", [pub])
    assert a.ip != b.ip
    out = _ssh(cloud, a.ip, key, "whoami; echo $HOME; echo a > ~/mark; hostname -I")
    assert out.returncode == 0, out.stderr
    user, home, *addrs = out.stdout.split()
    assert user == cloud.user and addrs == [a.ip]
    assert (a.home / "mark").read_text() == "a\n"
    seen = _ssh(cloud, b.ip, key, "echo $HOME; ls ~")
    assert seen.stdout.split() == [home]  # same path, other files
    # nodes reach each other over the bridge, as the VMs of one cloud network do
    probe = _ssh(cloud, a.ip, key, f"exec 3<>/dev/tcp/{b.ip}/22 && head -c 3 <&3")
    assert probe.stdout == "SSH"
    cloud.release("i-a")
    cloud.release("i-b")


def test_only_installed_keys_log_in(cloud: CloudNodes, user_key, tmp_path: Path) -> None:
    key, pub = user_key
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    node = cloud.acquire("i-keys", [pub])
    assert _ssh(cloud, node.ip, key, "true").returncode == 0
    denied = _ssh(cloud, node.ip, other, "true")
    assert denied.returncode == 255 and "denied" in denied.stderr.lower()
    cloud.release("i-keys")


def test_release_kills_every_process_and_wipes_the_disk(cloud: CloudNodes, user_key) -> None:
    key, pub = user_key
    node = cloud.acquire("i-del", [pub])
    _wait_ssh(cloud, node.ip, key)  # a loaded machine can miss a connect
    done = _ssh(cloud, node.ip, key, "echo x > ~/data; setsid nohup sleep 1000 >/dev/null 2>&1 &")
    assert done.returncode == 0, done.stderr
    # ssh returns once the shell has forked; the child execs sleep a moment later
    deadline = time.monotonic() + 10
    while not any("sleep" in _comm(p) for p in cloud.node_pids(node.node)):
        assert time.monotonic() < deadline, "the detached sleep never ran on the node"
        time.sleep(0.05)
    cloud.release("i-del")
    assert cloud.node_pids(node.node) == []
    assert not (node.home / "data").exists()
    assert cloud.assigned() == []
    again = cloud.acquire("i-new", [pub])  # the node is handed out afresh, with an empty disk
    assert again.node.index == node.node.index
    assert sorted(p.name for p in again.home.iterdir()) == [".ssh"]
    cloud.release("i-new")


def test_stop_keeps_the_disk_and_preempt_takes_the_machine(cloud: CloudNodes, user_key) -> None:
    key, pub = user_key
    node = cloud.acquire("i-life", [pub])
    _wait_ssh(cloud, node.ip, key)
    done = _ssh(cloud, node.ip, key, "echo kept > ~/f; setsid sleep 1000 >/dev/null 2>&1 &")
    assert done.returncode == 0, done.stderr
    cloud.stop_instance("i-life")
    assert node.state == "stopped" and cloud.node_pids(node.node) == []
    assert _ssh(cloud, node.ip, key, "true").returncode == 255
    cloud.start_instance("i-life")
    assert _ssh(cloud, node.ip, key, "cat ~/f").stdout == "kept\n"
    cloud.preempt("i-life")
    assert node.state == "preempted"
    assert _ssh(cloud, node.ip, key, "true").returncode == 255
    assert cloud.assigned() == ["i-life"]  # the fake decides when the API deletes it
    cloud.release("i-life")


def test_pool_exhaustion_and_slow_start(cloud: CloudNodes, user_key) -> None:
    key, pub = user_key
    ids = [f"i-{n}" for n in range(len(cloud.nodes))]
    for instance_id in ids:
        cloud.acquire(instance_id, [pub])
    with pytest.raises(NoFreeNode):
        cloud.acquire("i-extra", [pub])
    with pytest.raises(ValueError):
        cloud.acquire(ids[0], [pub])
    cloud.release(ids[0])
    cloud.faults.slow_start(1.5)
    slow = cloud.acquire("i-slow", [pub])
    assert slow.booting
    assert _ssh(cloud, slow.ip, key, "true").returncode == 255
    _wait_ssh(cloud, slow.ip, key)
    assert not slow.booting
    cloud.reset()
    assert cloud.assigned() == [] and cloud.faults.boot_delay == 0


def test_faults_match_places_and_count_down() -> None:
    faults = Faults()
    faults.stockout("us-east-1a", times=2)
    faults.over_quota("europe-west4")
    assert faults.check("us-east-1", "us-east-1b") is None
    assert faults.check("us-east-1", "us-east-1a") == "capacity"
    assert faults.check("us-east-1", "us-east-1a") == "capacity"
    assert faults.check("us-east-1", "us-east-1a") is None  # both failures used up
    assert faults.check("europe-west4", None) == "quota"
    assert faults.check("europe-west4", "europe-west4-a") == "quota"  # no count: always
    assert [kind for kind, _ in faults.hits] == ["capacity", "capacity", "quota", "quota"]
    with pytest.raises(ValueError):
        faults.stockout()
    faults.clear()
    assert faults.check("europe-west4") is None


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""
