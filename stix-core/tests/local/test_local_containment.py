"""No job process outlives cancel, stop or down, whatever it does to escape.

Each job starts sleepers that leave its process group (``setsid``, ``nohup``, a double
fork) or its environment (``env -i``, ``env -u STIX_NODE_ID``) on all three nodes.
"""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest
import stix
from stix.agent import contain
from stix.task import load_task

ESCAPES = [
    "setsid sleep {t} >/dev/null 2>&1 < /dev/null &",
    "nohup sleep {t} >/dev/null 2>&1 &",
    "( (sleep {t} >/dev/null 2>&1 &) & )",
    "env -i /bin/sleep {t} >/dev/null 2>&1 &",
    "env -u STIX_NODE_ID -u HOME setsid sleep {t} >/dev/null 2>&1 &",
]


def _sleepers(token: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
            with open(f"/proc/{name}/stat") as fh:
                state = fh.read().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if token.encode() in argv and argv[0].endswith(b"sleep") and state not in "ZX":
            found.append(int(name))
    return found


def _wait_count(token: str, want: int, timeout: float = 30) -> list[int]:
    deadline = time.time() + timeout
    while True:
        found = _sleepers(token)
        if len(found) == want or time.time() > deadline:
            return found
        time.sleep(0.1)


@pytest.fixture(params=["cgroup", "fallback"])
def mode(request, monkeypatch):
    if request.param == "cgroup" and contain.base() is None:
        pytest.skip("no writable cgroup v2 hierarchy on this machine")
    if request.param == "fallback":
        monkeypatch.setenv("STIX_CGROUP", "off")
    contain._BASE.clear()
    yield request.param
    contain._BASE.clear()


@pytest.fixture
def cluster(stix_home, plugin_registry, mode, monkeypatch, tmp_path):
    monkeypatch.setenv("STIX_QUIET", "1")
    name = f"esc-{mode[:2]}"
    token = f"4242.{uuid.uuid4().int % 10**6}"
    run = "\n".join(e.format(t=token) for e in ESCAPES)
    task = load_task({"num_nodes": 3, "resources": {"cpus": "0.1+"}, "run": run})
    result = stix.launch(task, cluster_name=name)
    assert result.status == "SUCCEEDED"
    yield name, token
    for pid in _sleepers(token):
        os.kill(pid, signal.SIGKILL)
    for record in stix.status():
        stix.down(record.name, purge=True)


def _hold(name: str, token: str) -> None:
    """A running job that has already started its escapes on every node."""
    run = "\n".join(e.format(t=token) for e in ESCAPES) + "\nsleep 1000"
    stix.exec(load_task({"num_nodes": 3, "run": run}), name, detach_run=True)
    assert len(_wait_count(token, 2 * 3 * len(ESCAPES))) == 2 * 3 * len(ESCAPES)


def test_down_leaves_no_process(cluster):
    name, token = cluster
    _hold(name, token)
    stix.down(name)
    assert _wait_count(token, 0, timeout=15) == []


def test_stop_leaves_no_process(cluster):
    name, token = cluster
    _hold(name, token)
    stix.stop(name)
    assert _wait_count(token, 0, timeout=15) == []


def test_cancel_ends_the_running_job_processes(cluster):
    name, token = cluster
    run = "\n".join(e.format(t=token + "1") for e in ESCAPES) + "\nsleep 1000"
    job = stix.exec(load_task({"num_nodes": 3, "run": run}), name, detach_run=True)
    assert len(_wait_count(token + "1", 3 * len(ESCAPES))) == 3 * len(ESCAPES)
    stix.cancel(name, [job.job_id])
    assert _wait_count(token + "1", 0, timeout=15) == []
    # The finished launch job's leftovers are the cluster's until it goes.
    assert len(_sleepers(token)) == 3 * len(ESCAPES)


def test_autostop_leaves_no_process(cluster):
    name, token = cluster
    stix.autostop(name, 0.05)
    deadline = time.time() + 60
    while time.time() < deadline:
        if [r.status for r in stix.status([name])] == ["STOPPED"]:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("autostop did not stop the cluster")
    assert _wait_count(token, 0, timeout=15) == []
