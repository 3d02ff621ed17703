"""``kill -9`` of the node agent: finished jobs keep their state, the queue goes on."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest


def _wait_for(predicate, timeout: float = 30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_agent_killed_keeps_finished_jobs_and_its_queue(make_cluster, pid_alive):
    cluster = make_cluster()
    [done] = cluster.submit({"run": "echo done"})
    assert cluster.wait(done)["status"] == "SUCCEEDED"
    whole = {"cpus": cluster.info["nodes"][0]["cpus"]}
    [held, queued] = cluster.submit(
        {"run": "sleep 300", "resources": whole}, {"run": "echo later", "resources": whole}
    )
    cluster.wait_status(held, "RUNNING")
    assert cluster.job(queued)["status"] == "PENDING"  # waits behind the running job
    daemon, driver = cluster.daemon_pid(), cluster.job(held)["driver_pid"]
    os.kill(daemon, signal.SIGKILL)  # the agent and the job's driver die at once
    os.kill(driver, signal.SIGKILL)
    _wait_for(lambda: not pid_alive(daemon) and not pid_alive(driver))

    # The next touch (a queue listing) restarts the agent: no `stix start` is needed.
    assert cluster.wait(queued)["status"] == "SUCCEEDED"
    assert cluster.daemon_pid() not in (None, daemon)
    assert cluster.job(done)["status"] == "SUCCEEDED"
    failed = cluster.job(held)
    assert failed["status"] == "FAILED_DRIVER"
    log = os.path.join(failed["log_dir"], "run.log")
    with open(log) as fh:
        text = fh.read()
    assert "driver process died" in text and "stix exec" in text


def test_shutdown_is_not_undone_by_self_healing(make_cluster):
    cluster = make_cluster()
    whole = {"cpus": cluster.info["nodes"][0]["cpus"]}
    [held, queued] = cluster.submit(
        {"run": "sleep 300", "resources": whole}, {"run": "true", "resources": whole}
    )
    cluster.wait_status(held, "RUNNING")
    cluster.call("shutdown")
    assert cluster.job(queued)["status"] == "PENDING"
    assert cluster.call("health")["daemon_pid"] is None
    cluster.call("start-daemon")
    assert cluster.wait(queued)["status"] == "SUCCEEDED"


@pytest.mark.parametrize("damage", [lambda data: b"", lambda data: data[:1500]])
def test_damaged_job_database_is_named_at_once_and_kept(make_cluster, damage):
    cluster = make_cluster()
    [job_id] = cluster.submit({"run": "echo kept"})
    assert cluster.wait(job_id)["status"] == "SUCCEEDED"
    path = cluster.agent_home / "jobs.db"
    bad = damage(path.read_bytes())
    path.write_bytes(bad)
    started = time.time()
    proc = cluster.run("queue", check=False)
    assert time.time() - started < 10  # no 60 s wait on a lock
    assert proc.returncode == 2
    reply = json.loads(proc.stdout)
    assert reply["kind"] == "cluster" and f"job database {path} is damaged" in reply["error"]
    assert "stix state recover" in reply["error"]
    assert path.read_bytes() == bad  # data is never overwritten
    kept = cluster.call("recover-db")["kept"]
    assert kept and Path(kept).read_bytes() == bad
    [again] = cluster.submit({"run": "echo fresh"})
    assert cluster.wait(again)["status"] == "SUCCEEDED"
