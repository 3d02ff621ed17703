"""Job end states: failures, cancel (process groups gone), dead drivers, logs."""

from __future__ import annotations

import json
import os
import signal
import time


def _wait_file(path, timeout=20.0) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def test_non_zero_exit_is_failed_with_code(make_cluster):
    cluster = make_cluster()
    [job_id] = cluster.submit({"run": "echo out; exit 3"})
    job = cluster.wait(job_id)
    assert job["status"] == "FAILED"
    assert job["exit_codes"] == [3]
    assert "out" in cluster.run("logs", str(job_id)).stdout


def test_failed_setup_skips_run(make_cluster):
    cluster = make_cluster()
    [job_id] = cluster.submit({"setup": "echo preparing; exit 7", "run": "touch $HOME/ran"})
    job = cluster.wait(job_id)
    assert job["status"] == "FAILED_SETUP"
    assert job["exit_codes"] == [7]
    assert not (cluster.homes[0] / "ran").exists()
    assert "preparing" in cluster.run("logs", str(job_id)).stdout


def test_failed_rank_kills_the_others(make_cluster, pid_alive):
    cluster = make_cluster([{"cpus": 1}, {"cpus": 1}])
    run = 'if [ "$SKYPILOT_NODE_RANK" = 1 ]; then sleep 0.5; exit 5; fi; echo $$ > $HOME/pid; sleep 60'
    [job_id] = cluster.submit({"num_nodes": 2, "run": run})
    job = cluster.wait(job_id)
    assert job["status"] == "FAILED"
    assert job["exit_codes"][1] == 5
    assert job["exit_codes"][0] in (137, 143)
    assert not pid_alive(int(_wait_file(cluster.homes[0] / "pid")))


def test_cancel_kills_the_process_group(make_cluster, pid_alive):
    cluster = make_cluster([{"cpus": 1}, {"cpus": 1}])
    run = "sleep 300 & echo $! > $HOME/child; echo $$ > $HOME/shell; wait"
    [job_id] = cluster.submit({"num_nodes": 2, "run": run})
    pids = [int(_wait_file(home / name)) for home in cluster.homes for name in ("child", "shell")]
    assert all(pid_alive(p) for p in pids)
    assert cluster.call("cancel", str(job_id))["cancelled"] == [job_id]
    assert cluster.job(job_id)["status"] == "CANCELLED"
    deadline = time.time() + 10
    while time.time() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.05)
    assert not [p for p in pids if pid_alive(p)]


def test_cancel_pending_job_never_runs(make_cluster):
    cluster = make_cluster([{"cpus": 1}])
    first, second = cluster.submit(
        {"run": "sleep 1", "resources": {"cpus": 1}},
        {"run": "touch $HOME/second", "resources": {"cpus": 1}},
    )
    assert cluster.call("cancel", str(second))["cancelled"] == [second]
    assert cluster.wait(first)["status"] == "SUCCEEDED"
    time.sleep(0.3)
    assert cluster.job(second)["status"] == "CANCELLED"
    assert not (cluster.homes[0] / "second").exists()


def test_dead_driver_is_failed_driver(make_cluster, pid_alive):
    cluster = make_cluster()
    [job_id] = cluster.submit({"run": "echo $$ > $HOME/shell; sleep 300"})
    shell = int(_wait_file(cluster.homes[0] / "shell"))
    cluster.wait_status(job_id, "RUNNING")
    driver = cluster.job(job_id)["driver_pid"]
    os.kill(driver, signal.SIGKILL)
    job = cluster.wait(job_id)
    assert job["status"] == "FAILED_DRIVER"
    deadline = time.time() + 10
    while time.time() < deadline and pid_alive(shell):
        time.sleep(0.05)
    assert not pid_alive(shell)


def test_logs_follow_until_the_end(make_cluster):
    cluster = make_cluster()
    [job_id] = cluster.submit({"run": "for i in 1 2 3; do echo line$i; sleep 0.2; done"})
    proc = cluster.run("logs", str(job_id), "--follow")
    assert proc.stdout.split() == ["line1", "line2", "line3"]
    mark = [ln for ln in proc.stderr.splitlines() if ln.startswith("STIX-JOB-STATUS ")][-1]
    assert json.loads(mark.split(" ", 1)[1]) == {"job_id": job_id, "status": "SUCCEEDED"}


def test_multi_node_log_layout(make_cluster):
    cluster = make_cluster([{"cpus": 1}, {"cpus": 1}])
    [job_id] = cluster.submit(
        {"name": "ml", "num_nodes": 2, "run": "echo hi from $SKYPILOT_NODE_RANK"}
    )
    job = cluster.wait(job_id)
    log_dir = cluster.homes[0] / "sky_logs" / f"{job_id}-ml"
    assert job["log_dir"] == str(log_dir)
    shown = cluster.run("logs", str(job_id)).stdout  # the merged view, built when read
    assert "(head, rank=0" in shown and "hi from 0" in shown
    assert "(worker1, rank=1" in shown and "hi from 1" in shown
    assert (log_dir / "tasks" / "0-head.log").read_text() == "hi from 0\n"
    assert (log_dir / "tasks" / "1-worker1.log").read_text() == "hi from 1\n"


def test_secrets_never_reach_the_job_database(make_cluster):
    cluster = make_cluster()
    [job_id] = cluster.submit(
        {"run": "echo ${#TOKEN}; sleep 0.5", "secrets": {"TOKEN": "zzz-secret"}}
    )
    cluster.wait_status(job_id, "RUNNING")
    secret_file = cluster.agent_home / "secrets" / f"{job_id}.json"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert cluster.wait(job_id)["status"] == "SUCCEEDED"
    assert cluster.run("logs", str(job_id)).stdout.strip() == "10"
    assert not secret_file.exists()
    for path in cluster.agent_home.glob("jobs.db*"):
        assert b"zzz-secret" not in path.read_bytes()
    assert "zzz-secret" not in json.dumps(cluster.call("queue"))


def test_submit_restarts_a_dead_daemon(make_cluster):
    cluster = make_cluster()
    os.kill(cluster.daemon_pid(), signal.SIGKILL)
    time.sleep(0.2)
    [job_id] = cluster.submit({"run": "true"})
    assert cluster.wait(job_id)["status"] == "SUCCEEDED"
    assert cluster.daemon_pid()
