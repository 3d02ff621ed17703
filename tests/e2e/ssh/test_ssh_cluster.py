"""A 4-node cluster on an ``ssh`` pool of real sshd nodes, driven through the ``stix`` CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.e2e

CLUSTER = "e2e"


class Env:
    """A temp HOME/STIX_HOME with a pool of every harness node, and a CLI runner."""

    def __init__(self, harness: Any, root: Path) -> None:
        self.harness = harness
        self.home = root / "home"
        self.stix_home = self.home / ".stix"
        self.stix_home.mkdir(parents=True)
        (self.home / ".ssh").mkdir()
        (self.home / ".ssh" / "config").write_text("Host mine\n  HostName example.invalid\n")
        hosts = [{"ip": n.ip, "port": n.port, "user": n.user} for n in harness.nodes]
        pools = {"hp": {"identity_file": str(harness.key), "hosts": hosts}}
        (self.stix_home / "ssh_node_pools.yaml").write_text(yaml.safe_dump(pools))
        self.env = dict(os.environ, HOME=str(self.home), STIX_HOME=str(self.stix_home))
        self.workdir = root / "work dir"
        self.workdir.mkdir()
        (self.workdir / "data file.txt").write_text("payload")

    def stix(self, *args: str, check: bool = True, timeout: float = 120) -> Any:
        proc = subprocess.run(
            ["stix", *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check:
            assert proc.returncode == 0, f"stix {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
        return proc

    def task(self, name: str, run: str, setup: str | None = None) -> str:
        doc: dict[str, Any] = {"name": name, "num_nodes": 4, "run": run}
        if setup:
            doc["setup"] = setup
            doc["workdir"] = str(self.workdir)
        path = self.home / f"{name}.yaml"
        path.write_text(yaml.safe_dump(doc))
        return str(path)

    def jobs(self) -> dict[int, dict[str, Any]]:
        out = json.loads(self.stix("queue", CLUSTER, "--json").stdout)
        rows = out["jobs"] if isinstance(out, dict) else out
        if rows and isinstance(rows[0], dict) and "jobs" in rows[0]:
            rows = rows[0]["jobs"]
        return {int(r["job_id"]): r for r in rows}

    def wait_status(self, job_id: int, wanted: set[str], timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            status = self.jobs()[job_id]["status"]
            if status in wanted or time.monotonic() > deadline:
                return str(status)
            time.sleep(0.3)

    def allocations(self) -> dict[str, Any]:
        path = self.stix_home / "ssh" / "pool_state.json"
        return json.loads(path.read_text())["allocations"] if path.exists() else {}


def _sleepers(harness: Any, node: Any) -> list[int]:
    out = []
    for pid in harness.node_pids(node):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sleep\0" + b"307"):
                out.append(pid)
        except OSError:
            pass
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "?"


def _wait(predicate: Any, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def env(ssh_harness: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    if len(ssh_harness.nodes) < 4:
        pytest.skip("needs 4 harness nodes")
    e = Env(ssh_harness, tmp_path_factory.mktemp("sshe2e"))
    yield e
    e.stix("down", "-y", "-p", CLUSTER, check=False)


def test_launch_runs_setup_and_ranks_with_real_ips(env: Env) -> None:
    setup = 'echo "setup on $(whoami)"; cp "data file.txt" ~/setup-marker'
    run = 'echo "rank=$SKYPILOT_NODE_RANK user=$(whoami) ips=$(echo $SKYPILOT_NODE_IPS) $(cat "data file.txt")"'
    proc = env.stix("launch", "-y", "--infra", "ssh/hp", "-c", CLUSTER, env.task("t", run, setup))
    nodes = env.harness.nodes
    ips = " ".join(n.ip for n in nodes)
    for rank, node in enumerate(nodes):
        assert f"rank={rank} user={node.user} ips={ips} payload" in proc.stdout
        assert (node.home / "setup-marker").read_text() == "payload"
        assert (node.home / "sky_workdir" / "data file.txt").exists()
    assert len(env.allocations()) == 1
    # The head keeps one reused SSH connection per worker (setup and run share it).
    masters = [
        p
        for p in env.harness.node_pids(nodes[0])
        if _cmdline(p).startswith("ssh: ") and "[mux]" in _cmdline(p)
    ]
    assert len(masters) == 3, [_cmdline(p) for p in env.harness.node_pids(nodes[0])]


def test_ssh_config_reaches_head_and_workers(env: Env) -> None:
    config = env.home / ".ssh" / "config"
    lines = config.read_text().splitlines()
    assert sum(1 for line in lines if line.startswith("Include ")) == 1
    assert "Host mine" in lines
    for alias, node in [
        (CLUSTER, env.harness.nodes[0]),
        (f"{CLUSTER}-worker3", env.harness.nodes[3]),
    ]:
        proc = subprocess.run(
            ["ssh", "-F", str(config), alias, "whoami"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert proc.stdout.strip() == node.user, proc.stderr


def test_cancel_kills_every_rank(env: Env) -> None:
    proc = env.stix("exec", "-d", CLUSTER, env.task("long", "sleep 307"))
    job_id = max(env.jobs())
    assert env.wait_status(job_id, {"RUNNING"}) == "RUNNING", proc.stdout
    _wait(lambda: all(_sleepers(env.harness, n) for n in env.harness.nodes), what="4 ranks")
    env.stix("cancel", "-y", CLUSTER, str(job_id))
    _wait(lambda: not any(_sleepers(env.harness, n) for n in env.harness.nodes), what="no ranks")
    assert env.wait_status(job_id, {"CANCELLED"}) == "CANCELLED"


def test_failed_rank_fails_the_job_and_logs_show_every_rank(env: Env) -> None:
    # Rank 2 fails once every rank has said hello (the nodes share this machine's /tmp).
    seen = Path(tempfile.mkdtemp(prefix="stix-ranks-"))
    seen.chmod(0o777)
    run = (
        f'echo "hello from $SKYPILOT_NODE_RANK"; touch {seen}/$SKYPILOT_NODE_RANK; '
        f'if [ "$SKYPILOT_NODE_RANK" = 2 ]; then '
        f"for i in $(seq 300); do [ $(ls {seen} | wc -l) = 4 ] && break; sleep 0.1; done; "
        f"exit 3; fi; sleep 307"
    )
    env.stix("exec", "-d", CLUSTER, env.task("onefails", run))
    job_id = max(env.jobs())
    assert env.wait_status(job_id, {"FAILED", "SUCCEEDED", "CANCELLED"}) == "FAILED"
    # The other ranks are stopped, not left sleeping.
    _wait(lambda: not any(_sleepers(env.harness, n) for n in env.harness.nodes), what="no ranks")
    logs = env.stix("logs", "--no-follow", CLUSTER, str(job_id), check=False).stdout
    for rank, node in enumerate(env.harness.nodes):
        role = "head" if rank == 0 else f"worker{rank}"
        line = [x for x in logs.splitlines() if x.endswith(f"hello from {rank}")]
        assert line and line[0].startswith(f"({role}, rank={rank}, "), logs
        assert f"ip={node.ip})" in line[0]
    shutil.rmtree(seen)


def test_lost_node_fails_the_job_naming_it(env: Env, ssh_nodes: Any) -> None:
    env.stix("exec", "-d", CLUSTER, env.task("lost", "sleep 307"))
    job_id = max(env.jobs())
    _wait(lambda: all(_sleepers(env.harness, n) for n in env.harness.nodes), what="4 ranks")
    victim = env.harness.nodes[2]
    env.harness.kill_node(victim)
    assert env.wait_status(job_id, {"FAILED", "FAILED_DRIVER"}) == "FAILED"
    logs = env.stix("logs", "--no-follow", CLUSTER, str(job_id), check=False)
    text = logs.stdout + logs.stderr
    assert f"{CLUSTER}-worker2 ({victim.ip})" in text
    _wait(lambda: not any(_sleepers(env.harness, n) for n in env.harness.nodes), what="no ranks")
    env.harness.start_sshd(victim)


def _refreshed_status(env: Env) -> str:
    rows = json.loads(env.stix("status", "--refresh", "--json", CLUSTER).stdout)
    return str(next(r["status"] for r in rows if r["name"] == CLUSTER))


def test_refresh_notices_an_unreachable_worker(env: Env, ssh_nodes: Any) -> None:
    assert _refreshed_status(env) == "UP"
    victim = env.harness.nodes[3]
    env.harness.stop_sshd(victim)
    try:
        assert _refreshed_status(env) == "INIT"
    finally:
        env.harness.start_sshd(victim)
    assert _refreshed_status(env) == "UP"


def test_autodown_is_refused_not_silently_ignored(env: Env) -> None:
    proc = env.stix("autostop", "-y", CLUSTER, "-i", "0", "--down", check=False)
    assert proc.returncode != 0
    assert "ssh clusters cannot tear themselves down" in proc.stdout + proc.stderr
    # a detached --down would need the head to do it: refused before the job is queued
    before = env.stix("queue", CLUSTER, "--json").stdout
    proc = env.stix("launch", "-y", "-d", "--down", "-c", CLUSTER, "echo nope", check=False)
    assert proc.returncode == 1
    assert "--down needs this client to wait for the job" in proc.stderr
    assert env.stix("queue", CLUSTER, "--json").stdout == before


def test_down_leaves_nothing_and_returns_hosts(env: Env) -> None:
    env.stix("down", "-y", CLUSTER)
    assert env.allocations() == {}
    for node in env.harness.nodes:
        try:
            _wait(lambda n=node: not env.harness.node_pids(n), timeout=5)
        except AssertionError:
            left = [_cmdline(p) for p in env.harness.node_pids(node)]
            raise AssertionError(f"{node.name}: processes left: {left}") from None
        for name in (".stix_agent", "sky_workdir", "sky_logs", ".stix_cluster"):
            assert not (node.home / name).exists(), f"{node.name}: ~/{name} left"
        keys = (node.home / ".ssh" / "authorized_keys").read_text()
        assert "stix-cluster" not in keys
        (node.home / "setup-marker").unlink()
    assert not (env.stix_home / "ssh" / "clusters" / f"{CLUSTER}.conf").exists()
    # The hosts are free again: a new 4-node cluster gets all of them.
    # `launch --down` (attached) runs the job, then this client releases the hosts.
    proc = env.stix(
        "launch", "-y", "--down", "--infra", "ssh/hp", "-c", "again", env.task("ok", "echo ok")
    )
    assert proc.stdout.count("ok") >= 4
    assert env.allocations() == {}
    assert env.stix("status", "again").stdout.count("again") == 0
