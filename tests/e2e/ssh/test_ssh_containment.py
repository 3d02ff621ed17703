"""On an ssh pool too, no job process outlives cancel or down, whatever it does to escape.

The pool's users are not root here, so the nodes have no writable cgroup: this drives
the fallback (every rank runs under its own subreaper, on the head and on workers).
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.e2e

# Escapes that leave the rank's process group, session or environment (or all three):
# ``cancel`` and ``down`` must end every one of them, on every node.
ESCAPES = [
    "nohup sleep {t} >/dev/null 2>&1 &",
    "( (sleep {t} >/dev/null 2>&1 &) & )",
    "env -i /bin/sleep {t} >/dev/null 2>&1 &",
    "env -u STIX_NODE_ID -u SKYPILOT_TASK_ID sleep {t} >/dev/null 2>&1 &",
    "setsid sleep {t} >/dev/null 2>&1 < /dev/null &",
    "setsid env -i /bin/sleep {t} >/dev/null 2>&1 < /dev/null &",
    "( (setsid env -i /bin/sleep {t} >/dev/null 2>&1 < /dev/null &) & )",
    "setsid nohup env -i /bin/sleep {t} >/dev/null 2>&1 < /dev/null &",
]


def _stix(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["stix", *args], env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"stix {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _sleepers(harness: Any, token: str) -> list[int]:
    found = []
    for node in harness.nodes:
        for pid in harness.node_pids(node):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
            except OSError:
                continue
            if token.encode() in argv and state not in "ZX":
                found.append(pid)
    return found


def _wait_count(harness: Any, token: str, want: int, timeout: float = 30) -> int:
    deadline = time.time() + timeout
    while True:
        count = len(_sleepers(harness, token))
        if count == want or time.time() > deadline:
            return count
        time.sleep(0.2)


def test_cancel_and_down_leave_no_process(ssh_harness: Any, tmp_path: Path) -> None:
    nodes = ssh_harness.nodes[:3]
    if len(nodes) < 3:
        pytest.skip("needs 3 harness nodes")
    stix_home = tmp_path / "home" / ".stix"
    stix_home.mkdir(parents=True, exist_ok=True)
    hosts = [{"ip": n.ip, "port": n.port, "user": n.user} for n in nodes]
    pools = {"cp": {"identity_file": str(ssh_harness.key), "hosts": hosts}}
    (stix_home / "ssh_node_pools.yaml").write_text(yaml.safe_dump(pools))
    env = dict(os.environ, HOME=str(tmp_path / "home"), STIX_HOME=str(stix_home))
    token = f"4343.{uuid.uuid4().int % 10**6}"
    every = ESCAPES

    def task(name: str, escapes: list[str], tok: str, hold: bool) -> str:
        run = "\n".join(e.format(t=tok) for e in escapes) + ("\nsleep 1000" if hold else "")
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"name": name, "num_nodes": 3, "run": run}))
        return str(path)

    try:
        _stix(env, "launch", "-y", "--infra", "ssh/cp", "-c", "esc", task("a", every, token, False))
        assert _wait_count(ssh_harness, token, 3 * len(every)) == 3 * len(every)
        _stix(env, "exec", "-d", "esc", task("b", every, token + "1", True))
        assert _wait_count(ssh_harness, token + "1", 3 * len(every)) == 3 * len(every)
        _stix(env, "cancel", "-y", "esc", "2")
        assert _wait_count(ssh_harness, token + "1", 0) == 0
        _stix(env, "down", "-y", "esc")
        assert _wait_count(ssh_harness, token, 0, timeout=15) == 0
        assert _wait_count(ssh_harness, "stix-reaper", 0, timeout=15) == 0  # reapers too
    finally:
        subprocess.run(["stix", "down", "-y", "-p", "esc"], env=env, capture_output=True)
        for pid in _sleepers(ssh_harness, token):
            os.kill(pid, 9)
