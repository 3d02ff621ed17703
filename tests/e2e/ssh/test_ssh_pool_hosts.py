"""Per-host settings of ``ssh`` pools on real sshd nodes: declared GPUs and jump hosts."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.e2e


def _stix(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["stix", *args], capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, f"stix {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _write_pools(pools: dict[str, Any]) -> None:
    home = Path(os.environ["STIX_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "ssh_node_pools.yaml").write_text(yaml.safe_dump(pools))


def _task(tmp_path: Path, doc: dict[str, Any]) -> str:
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_gpus_declared_per_host_reach_every_rank(ssh_nodes: Any, tmp_path: Path) -> None:
    a, b = ssh_nodes.nodes[0], ssh_nodes.nodes[1]
    hosts = [
        {"ip": a.ip, "port": a.port, "user": a.user, "accelerators": "A100:2"},
        {"ip": b.ip, "port": b.port, "user": b.user, "accelerators": {"A100": 4}},
    ]
    _write_pools({"gpu": {"identity_file": str(ssh_nodes.key), "hosts": hosts}})
    run = 'echo "r$SKYPILOT_NODE_RANK n=$SKYPILOT_NUM_GPUS_PER_NODE cvd=$CUDA_VISIBLE_DEVICES"'
    doc = {"num_nodes": 2, "resources": {"accelerators": "A100:2"}, "run": run}
    try:
        proc = _stix("launch", "-y", "--infra", "ssh/gpu", "-c", "g", _task(tmp_path, doc))
        assert "r0 n=2 cvd=0,1" in proc.stdout and "r1 n=2 cvd=0,1" in proc.stdout
        _stix("down", "-y", "g")
        # Only one host has 4 GPUs: a 2-node A100:4 cluster cannot be placed.
        doc["resources"] = {"accelerators": "A100:4"}
        proc = _stix(
            "launch", "-y", "--infra", "ssh/gpu", "-c", "g4", _task(tmp_path, doc), check=False
        )
        assert proc.returncode != 0
        assert "A100:4" in proc.stdout + proc.stderr
    finally:
        _stix("down", "-y", "-p", "g", check=False)


@contextmanager
def _unreachable_from_here(ip: str) -> Iterator[None]:
    """Drop this machine's route to ``ip``; other harness nodes still reach it."""
    subprocess.run(["ip", "route", "add", "blackhole", f"{ip}/32"], check=True)
    try:
        yield
    finally:
        subprocess.run(["ip", "route", "del", "blackhole", f"{ip}/32"], check=False)


def test_pool_behind_a_jump_host(ssh_nodes: Any, tmp_path: Path) -> None:
    if ssh_nodes.mode != "netns":
        pytest.skip("needs network namespaces to hide the hosts behind the bastion")
    bastion, hidden = ssh_nodes.nodes[1], ssh_nodes.nodes[2:4]
    hosts = [{"ip": n.ip, "port": n.port, "user": n.user} for n in hidden]
    jump = f"{bastion.user}@{bastion.ip}:{bastion.port}"
    pool = {"identity_file": str(ssh_nodes.key), "proxy_jump": jump, "hosts": hosts}
    _write_pools({"behind": pool})
    run = 'echo "rank $SKYPILOT_NODE_RANK on $(whoami) ips $(echo $SKYPILOT_NODE_IPS)"'
    doc = {"num_nodes": 2, "run": run}
    # the harness nodes are shared by this worker's tests: compare with what was there
    before = {n.name: sorted(p.name for p in n.home.iterdir()) for n in hidden}
    config = Path.home() / ".ssh" / "config"
    with _unreachable_from_here(hidden[0].ip), _unreachable_from_here(hidden[1].ip):
        direct = subprocess.run(
            [*ssh_nodes.ssh_argv(hidden[0]), "-o", "ConnectTimeout=2", "true"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert direct.returncode != 0  # only the bastion leads there
        check = _stix("check", "ssh")
        assert "behind: 2/2 hosts reachable" in check.stdout, check.stdout
        try:
            proc = _stix("launch", "-y", "--infra", "ssh/behind", "-c", "jb", _task(tmp_path, doc))
            ips = " ".join(n.ip for n in hidden)
            for rank, node in enumerate(hidden):
                assert f"rank {rank} on {node.user} ips {ips}" in proc.stdout
            for alias, node in (("jb", hidden[0]), ("jb-worker1", hidden[1])):
                out = subprocess.run(
                    ["ssh", "-F", str(config), alias, "whoami"],
                    capture_output=True,
                    text=True,
                    timeout=30,
                )
                assert out.stdout.strip() == node.user, out.stderr
            _stix("down", "-y", "jb")
        finally:
            _stix("down", "-y", "-p", "jb", check=False)
    owned = {".stix_agent", ".stix_cluster", "sky_workdir", "sky_logs"}  # STIX's own folders
    for node in hidden:
        after = sorted(p.name for p in node.home.iterdir())
        assert not set(after) & owned
        assert after == sorted(set(before[node.name]) - owned)
