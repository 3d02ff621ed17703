"""Fixtures for end-to-end tests: the real ``stix`` CLI against the local cloud in a temp home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def marked_pids(root: Path) -> list[int]:
    """Live processes whose STIX_NODE_ID points under ``root`` (sandbox processes)."""
    needle = f"STIX_NODE_ID={root}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            env = Path(f"/proc/{entry.name}/environ").read_bytes()
            state = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in env and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


class Stix:
    """Runs the ``stix`` CLI with its own ``$STIX_HOME``."""

    def __init__(self, home: Path, tmp: Path) -> None:
        self.home = home
        self.tmp = tmp
        self.env = dict(os.environ)
        self.env.update(
            STIX_HOME=str(home),
            STIX_CONFIG=str(home / "config.yaml"),
            STIX_PROJECT_CONFIG=str(home / "no-project.yaml"),
        )
        self.env.pop("STIX_LOCAL_GPUS", None)

    def argv(self, *args: str) -> list[str]:
        return [str(Path(sys.executable).parent / "stix"), *args]

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 60, **kw: Any
    ) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            self.argv(*args),
            capture_output=True,
            text=True,
            env=self.env,
            cwd=REPO,
            timeout=timeout,
            **kw,
        )
        if check:
            assert proc.returncode == 0, (
                f"stix {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            self.argv(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            cwd=REPO,
        )

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)

    def status(self, name: str) -> str | None:
        rows = [r for r in self.json("status") if r["name"] == name]
        return rows[0]["status"] if rows else None

    def jobs(self, cluster: str) -> dict[int, dict[str, Any]]:
        return {j["job_id"]: j for j in self.json("queue", cluster)}

    def node_home(self, cluster: str, index: int = 0) -> Path:
        [found] = list((self.home / "local").glob(f"{cluster}-*/node-{index}/home"))
        return found

    def wait_job(self, cluster: str, job_id: int, timeout: float = 30) -> dict[str, Any]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            job = self.jobs(cluster)[job_id]
            if job["status"] not in ("INIT", "PENDING", "SETTING_UP", "RUNNING"):
                return job
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} on {cluster} did not finish")


def wait_for(predicate: Any, timeout: float = 20, what: str = "condition") -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def stix(tmp_path: Path):
    runner = Stix(tmp_path / "stix-home", tmp_path)
    yield runner
    subprocess.run(["stix", "down", "-a", "-y"], env=runner.env, capture_output=True, timeout=120)
    leftover = marked_pids(runner.home)
    for pid in leftover:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    assert not leftover, f"sandbox processes left behind: {leftover}"
