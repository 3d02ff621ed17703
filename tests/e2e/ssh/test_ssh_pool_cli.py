"""``stix check ssh`` and ``stix ssh up/down`` against real sshd nodes, one of them stopped."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml


def _stix(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["stix", *args], capture_output=True, text=True, timeout=120)


def _pool(harness: Any) -> None:
    home = Path(os.environ["STIX_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    hosts = [{"ip": n.ip, "port": n.port, "user": n.user} for n in harness.nodes[:3]]
    pools = {"hp": {"identity_file": str(harness.key), "hosts": hosts}}
    (home / "ssh_node_pools.yaml").write_text(yaml.safe_dump(pools))


def test_check_names_the_unreachable_host(ssh_nodes: Any) -> None:
    _pool(ssh_nodes)
    down = ssh_nodes.nodes[1]
    ssh_nodes.stop_sshd(down)
    proc = _stix("check", "ssh")
    assert proc.returncode == 0, proc.stderr
    host_id = down.ip if down.port == 22 else f"{down.ip}:{down.port}"
    assert "hp: 2/3 hosts reachable" in proc.stdout
    assert f"{host_id}: cannot connect" in proc.stdout and "connection refused" in proc.stdout


def test_check_without_pools_says_what_to_do() -> None:
    proc = _stix("check", "ssh")
    assert proc.returncode == 1
    assert "no node pools in" in proc.stdout


def test_ssh_up_stages_agent_and_down_takes_hosts_offline(ssh_nodes: Any) -> None:
    _pool(ssh_nodes)
    proc = _stix("ssh", "up", "--infra", "ssh/hp")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(": up (") == 3
    for node in ssh_nodes.nodes[:3]:
        assert list((node.home / ".stix_agent").glob("agent-*.pyz"))
    assert _stix("ssh", "down", "--infra", "hp").returncode == 0
    launch = _stix("launch", "-y", "--infra", "ssh/hp", "-c", "off", "echo hi")
    assert launch.returncode != 0
    assert _stix("ssh", "up", "--infra", "hp").returncode == 0
    for node in ssh_nodes.nodes[:3]:
        subprocess.run(["rm", "-rf", str(node.home / ".stix_agent")], check=True)


def test_check_probes_a_host_whose_shell_greets_on_login(ssh_nodes: Any) -> None:
    _pool(ssh_nodes)
    node = ssh_nodes.nodes[0]
    bashrc = node.home / ".bashrc"
    saved = bashrc.read_bytes() if bashrc.exists() else None
    bashrc.write_text("echo 'Welcome to the lab'\n")
    try:
        proc = _stix("check", "ssh")
    finally:
        if saved is None:
            bashrc.unlink()
        else:
            bashrc.write_bytes(saved)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "hp: 3/3 hosts reachable" in proc.stdout, proc.stdout + proc.stderr


def test_ssh_up_keeps_a_host_whose_agent_copy_failed_offline(ssh_nodes: Any) -> None:
    from stix.clouds.ssh import allocation

    _pool(ssh_nodes)
    node = ssh_nodes.nodes[2]
    blocker = node.home / ".stix_agent"
    subprocess.run(["rm", "-rf", str(blocker)], check=True)
    blocker.write_text("not a folder\n")  # root-owned file: the agent cannot be put there
    try:
        proc = _stix("ssh", "up", "--infra", "ssh/hp")
    finally:
        blocker.unlink()
    host_id = node.ip if node.port == 22 else f"{node.ip}:{node.port}"
    assert proc.returncode != 0
    assert proc.stdout.count(": up (") == 2, proc.stdout
    line = next(x for x in proc.stdout.splitlines() if f"hp/{host_id}:" in x)
    assert "agent copy failed" in line and "unreachable" not in line, line
    with allocation.locked_state(write=False) as state:
        assert allocation.key(allocation_host(host_id)) in state["offline"]
    assert _stix("ssh", "up", "--infra", "hp").returncode == 0
    with allocation.locked_state(write=False) as state:
        assert not state["offline"]
    for n in ssh_nodes.nodes[:3]:
        subprocess.run(["rm", "-rf", str(n.home / ".stix_agent")], check=True)


def allocation_host(host_id: str) -> Any:
    from stix.clouds.ssh.pools import get_pool

    return next(h for h in get_pool("hp").hosts if h.host_id == host_id)
