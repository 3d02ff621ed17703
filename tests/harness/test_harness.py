"""The harness itself: real sshd nodes come up isolated, can be cut off, and leave nothing behind."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.sshnodes import ROOT, HarnessUnavailable, SshNodes, clean_stale, netns_permitted


def _ssh(h: SshNodes, node, command: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*h.ssh_argv(node), command], capture_output=True, text=True, timeout=timeout
    )


def test_nodes_are_distinct_real_ssh_hosts(ssh_nodes: SshNodes) -> None:
    seen = set()
    for node in ssh_nodes.nodes:
        proc = _ssh(ssh_nodes, node, "whoami; echo $HOME; hostname -I 2>/dev/null || true")
        assert proc.returncode == 0, proc.stderr
        user, home, *addr = proc.stdout.split()
        assert (user, home) == (node.user, str(node.home))
        if ssh_nodes.mode == "netns":
            assert addr == [node.ip]
        seen.add((node.ip, node.port, user))
    assert len(seen) == len(ssh_nodes.nodes)
    keys = {(n.etc / "host_key.pub").read_text().split()[1] for n in ssh_nodes.nodes}
    assert len(keys) == len(ssh_nodes.nodes)


def test_stopped_sshd_refuses_and_restarts(ssh_nodes: SshNodes) -> None:
    node = ssh_nodes.nodes[-1]
    ssh_nodes.stop_sshd(node)
    proc = _ssh(ssh_nodes, node, "true")
    assert proc.returncode == 255
    assert "refused" in proc.stderr.lower()
    ssh_nodes.start_sshd(node)
    assert _ssh(ssh_nodes, node, "true").returncode == 0


def test_stopping_sshd_cuts_open_sessions(ssh_nodes: SshNodes) -> None:
    node = ssh_nodes.nodes[-1]
    session = subprocess.Popen(
        [*ssh_nodes.ssh_argv(node), "sleep 30"], stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 10
    while not any("sleep" in _comm(p) for p in ssh_nodes.node_pids(node)):
        assert time.monotonic() < deadline, "remote sleep never started"
        time.sleep(0.05)
    ssh_nodes.stop_sshd(node)
    assert session.wait(timeout=10) == 255


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text()
    except OSError:
        return ""


def test_rsync_over_ssh(ssh_nodes: SshNodes, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a file").write_text("data")
    node = ssh_nodes.nodes[0]
    shell = " ".join(ssh_nodes.ssh_argv(node)[:-1])
    proc = subprocess.run(
        ["rsync", "-a", "-e", shell, f"{tmp_path}/src/", f"{node.user}@{node.ip}:synced/"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert (node.home / "synced" / "a file").read_text() == "data"


def _traces(slot: int) -> list[str]:
    out = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    out += [w for w in netns.split() if w.startswith(f"stix{slot}n")]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    names = [w.split("@")[0].rstrip(":") for w in links.split()]
    out += [n for n in names if n == f"stixbr{slot}" or n.startswith(f"stix{slot}v")]
    users = subprocess.run(["getent", "passwd"], capture_output=True, text=True).stdout
    out += [u.split(":")[0] for u in users.splitlines() if u.startswith(f"stx{slot}n")]
    if (ROOT / f"slot-{slot}").exists():
        out.append(str(ROOT / f"slot-{slot}"))
    return out


@pytest.mark.parametrize("mode", ["netns", "loopback"])
def test_teardown_removes_everything(mode: str) -> None:
    if mode == "netns" and not netns_permitted():
        pytest.skip("network namespaces are not permitted here")
    try:
        harness = SshNodes(2, mode=mode)
    except HarnessUnavailable as exc:
        pytest.skip(str(exc))
    with harness:
        node = harness.nodes[1]
        slot = harness.slot
        assert _ssh(harness, node, "nohup sleep 300 >/dev/null 2>&1 &").returncode == 0
        assert _traces(slot)
        uid = node.uid
    assert _traces(slot) == []
    leftovers = subprocess.run(
        ["ps", "-o", "stat=", "-u", str(uid)], capture_output=True, text=True
    ).stdout.split()
    assert [s for s in leftovers if not s.startswith("Z")] == []


def test_stale_slot_of_a_killed_run_is_cleaned() -> None:
    tests_dir = str(Path(__file__).resolve().parents[1])
    code = (
        f"import sys, time; sys.path.insert(0, {tests_dir!r})\n"
        "from harness.sshnodes import SshNodes\n"
        "h = SshNodes(2).start(); print(h.slot, flush=True); time.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.strip():
            pytest.skip("the harness cannot start here")
        slot = int(line)
        assert _traces(slot)
    finally:
        proc.kill()
        proc.wait()
    assert slot in clean_stale()
    assert _traces(slot) == []
