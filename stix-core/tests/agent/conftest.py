"""Fixtures for agent tests: a real zipapp agent over local sandbox nodes in a temp dir."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from stix.agent import build_zipapp
from stix.testing.processes import pid_alive as pid_alive_check


@pytest.fixture(scope="session")
def agent_pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_zipapp(tmp_path_factory.mktemp("agent") / "agent.pyz")


class Cluster:
    """A cluster of local sandbox nodes driven through the agent's command line."""

    def __init__(self, root: Path, pyz: Path, nodes: list[dict[str, Any]], **extra: Any) -> None:
        self.root = root
        self.pyz = pyz
        self.homes = []
        for i, node in enumerate(nodes):
            home = root / f"node{i}"
            home.mkdir()
            self.homes.append(home)
            node.setdefault("ip", f"127.0.0.{i + 1}")
            node["exec"] = {"kind": "local", "home": str(home)}
        self.agent_home = self.homes[0] / ".stix_agent"
        self.info = {"cluster_name": "tc", "cloud": "local", "region": "local", "zone": None}
        self.info.update(extra)
        self.info["nodes"] = nodes

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["HOME"] = str(self.homes[0])
        env["STIX_AGENT_HOME"] = str(self.agent_home)
        env["USER"] = "alice"
        return env

    def run(self, *args: str, stdin: Any = None, check: bool = True) -> subprocess.CompletedProcess:
        data = None if stdin is None else (stdin if isinstance(stdin, str) else json.dumps(stdin))
        proc = subprocess.run(
            [sys.executable, "-S", str(self.pyz), *args],
            input=data,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=60,
        )
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def call(self, *args: str, stdin: Any = None) -> Any:
        return json.loads(self.run(*args, stdin=stdin).stdout)

    def init(self) -> None:
        self.call("init", stdin=self.info)

    def submit(self, *specs: dict[str, Any]) -> list[int]:
        return self.call("submit", stdin={"jobs": list(specs)})["job_ids"]

    def job(self, job_id: int) -> dict[str, Any]:
        return self.call("queue", str(job_id))["jobs"][0]

    def wait(self, job_id: int, timeout: float = 30) -> dict[str, Any]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            job = self.job(job_id)
            if job["status"] in (
                "SUCCEEDED",
                "FAILED",
                "FAILED_SETUP",
                "FAILED_DRIVER",
                "CANCELLED",
            ):
                return job
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} did not finish: {self.job(job_id)}")

    def wait_status(self, job_id: int, status: str, timeout: float = 20) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.job(job_id)["status"] == status:
                return
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} never reached {status}: {self.job(job_id)}")

    def daemon_pid(self) -> int | None:
        return self.call("health")["daemon_pid"]

    def close(self) -> None:
        self.run("cancel", "--all", check=False)
        pid = self.daemon_pid() if (self.agent_home / "jobs.db").exists() else None
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def make_cluster(tmp_path: Path, agent_pyz: Path):
    made: list[Cluster] = []

    def make(nodes: list[dict[str, Any]] | None = None, **extra: Any) -> Cluster:
        root = tmp_path / f"c{len(made)}"
        root.mkdir()
        cluster = Cluster(root, agent_pyz, nodes or [{"cpus": 2}], **extra)
        cluster.init()
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.close()


@pytest.fixture
def pid_alive():
    """A function telling whether a pid is a live (non-zombie) process."""
    return pid_alive_check
