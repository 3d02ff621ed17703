"""Recovery from preemption and kill -9 of the controller at each state change."""

from __future__ import annotations

from pathlib import Path

from jobs_helpers import (
    controller_pid,
    crash_at,
    job_clusters,
    preempt,
    task_row,
    wait_for,
    wait_status,
)
from stix_jobs import sdk


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def controller_home_path() -> Path:
    from stix_jobs.client import controller_home

    home = controller_home()
    assert home is not None
    return home


def _two_attempts(marker: Path, runs: Path) -> dict:
    """A spot task: the first attempt waits to be preempted, the next one succeeds."""
    return {
        "name": "spot",
        "resources": {"use_spot": True, "job_recovery": {"strategy": "FAILOVER"}},
        "run": (
            f"echo run >> {runs}; echo attempt $SKYPILOT_TASK_ID\n"
            f"if [ -f {marker} ]; then echo second; exit 0; fi\n"
            f"touch {marker}; sleep 300\n"
        ),
    }


def test_preempted_spot_job_recovers_once(jobs_home: Path, tmp_path: Path) -> None:
    from stix.task import Task

    marker, runs = tmp_path / "first", tmp_path / "runs"
    [job_id] = sdk.launch(Task.from_yaml_config(_two_attempts(marker, runs)))
    wait_status(job_id, "RUNNING")
    wait_for("the first attempt to start", marker.exists)
    copy = controller_home_path() / "jobs" / "logs" / str(job_id) / "task-0.1.partial"
    wait_for("a copy of the running attempt's log", lambda: "attempt" in _text(copy))
    cluster = task_row(job_id)["cluster"]
    assert preempt(cluster)
    row = wait_status(job_id, "SUCCEEDED", timeout=120)
    assert row["recoveries"] == 1
    assert runs.read_text().count("run") == 2
    out: list[bytes] = []
    sdk.logs(job_id, follow=False, write=out.append)
    text = b"".join(out).decode()
    assert "second" in text
    attempts = [line.split()[1] for line in text.splitlines() if line.startswith("attempt ")]
    assert len(attempts) == 2  # the preempted attempt's log was kept too
    assert len(set(attempts)) == 1  # SKYPILOT_TASK_ID is stable across recoveries
    wait_for("no cluster left", lambda: job_clusters() == [])


def test_controller_killed_at_each_state_change_loses_nothing(
    jobs_home: Path, tmp_path: Path
) -> None:
    """kill -9 right after STARTING, RUNNING and SUCCEEDED are written: the job runs once."""
    from stix.task import Task
    from stix_jobs.client import ensure

    ensure().ensure_running()
    pids = {wait_for("the controller", controller_pid)}
    crash_at("STARTING,RUNNING,SUCCEEDED")
    runs = tmp_path / "runs"
    [job_id] = sdk.launch(Task.from_yaml_config({"name": "once", "run": f"echo x >> {runs}"}))

    def restarts() -> int:
        pid = controller_pid()
        if pid is not None:
            pids.add(pid)
        return len(pids) - 1

    wait_for("three controller restarts", lambda: restarts() >= 3, timeout=120)
    assert wait_status(job_id, "SUCCEEDED")["recoveries"] == 0
    assert runs.read_text().count("x") == 1  # run exactly once
    wait_for("no cluster left", lambda: job_clusters() == [])


def test_controller_killed_while_recovering(jobs_home: Path, tmp_path: Path) -> None:
    from stix.task import Task

    marker, runs = tmp_path / "first", tmp_path / "runs"
    [job_id] = sdk.launch(Task.from_yaml_config(_two_attempts(marker, runs)))
    wait_for("the first attempt to start", marker.exists)
    first = controller_pid()
    crash_at("RECOVERING")
    assert preempt(task_row(job_id)["cluster"])
    wait_for("the controller to come back", lambda: controller_pid() not in (None, first))
    row = wait_status(job_id, "SUCCEEDED", timeout=120)
    assert row["recoveries"] == 1
    assert runs.read_text().count("run") == 2


def test_cancel_while_starting_leaves_no_cluster(jobs_home: Path, tmp_path: Path) -> None:
    """Cancel a job whose launch a crashed controller had begun: no cluster is left."""
    from stix.sdk import cancel as cancel_cluster_jobs
    from stix.sdk import queue as cluster_queue
    from stix.task import Task
    from stix_jobs.client import controller_name, ensure

    ensure().ensure_running()
    wait_for("the controller", controller_pid)
    crash_at("STARTING")
    [job_id] = sdk.launch(Task.from_yaml_config({"run": "sleep 300"}))
    wait_for("the crash", lambda: task_row(job_id)["status"] == "STARTING")
    # stop the supervisor too, so no controller resumes the launch behind the test's back
    running = [j["job_id"] for j in cluster_queue(controller_name()) if j["status"] == "RUNNING"]
    cancel_cluster_jobs(controller_name(), running)
    assert sdk.cancel([job_id]) == [job_id]  # restarts the controller, which cleans up
    wait_status(job_id, "CANCELLED")
    assert job_clusters() == []


def test_cancel_during_provisioning_leaves_no_cluster(jobs_home: Path, tmp_path: Path) -> None:
    """A cancel that arrives while the launch is in flight is acted on when it returns.

    The test holds the job cluster's lock on the controller node (as a concurrent
    ``stix`` command there would), so the controller's launch waits inside provisioning.
    """
    import fcntl
    import os

    from stix.task import Task
    from stix_jobs.client import ensure

    ensure().ensure_running()
    locks = controller_home_path() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    fd = os.open(locks / "held-1.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        [job_id] = sdk.launch(Task.from_yaml_config({"name": "held", "run": "sleep 300"}))
        assert job_id == 1
        wait_for("the launch to start", lambda: task_row(job_id)["status"] == "STARTING")
        assert sdk.cancel([job_id]) == [job_id]
        time_to_look = wait_for("the cancel to be recorded", lambda: _cancel_requested(job_id))
        assert time_to_look and task_row(job_id)["status"] == "STARTING"  # launch in flight
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    wait_status(job_id, "CANCELLED")
    wait_for("no cluster left", lambda: job_clusters() == [])
    assert not list((controller_home_path() / "local").glob("held-1-*"))


def _cancel_requested(job_id: int) -> bool:
    from jobs_helpers import controller_db

    with controller_db() as conn:
        row = conn.execute("SELECT cancel_requested FROM jobs WHERE job_id = ?", (job_id,))
        return bool(row.fetchone()[0])
