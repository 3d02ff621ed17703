"""Helpers for the managed-jobs tests: reach into the controller node, wait, preempt, clean up."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DEADLINE_S = 90.0

# Controller timings for tests: poll and sync every second or less.
FAST = {
    "jobs": {
        "poll_seconds": 0.5,
        "tick_seconds": 0.5,
        "launch_backoff_seconds": 1,
        "log_sync_seconds": 1,
        "controller": {"idle_minutes": 5},
    }
}


@contextmanager
def on_controller() -> Iterator[Path]:
    """Run STIX code as the controller node does (its ``$STIX_HOME``), e.g. to preempt a job."""
    from stix_jobs.client import controller_home

    home = controller_home()
    assert home is not None, "no local controller"
    old = os.environ.get("STIX_HOME")
    os.environ["STIX_HOME"] = str(home)
    try:
        yield home
    finally:
        if old is None:
            os.environ.pop("STIX_HOME", None)
        else:
            os.environ["STIX_HOME"] = old


def controller_db() -> sqlite3.Connection:
    from stix_jobs.client import controller_home

    home = controller_home()
    assert home is not None
    conn = sqlite3.connect(str(home / "jobs" / "jobs.db"), timeout=30)
    conn.row_factory = sqlite3.Row
    return conn


def task_row(job_id: int, idx: int = 0) -> dict[str, Any]:
    with controller_db() as conn:
        row = conn.execute(
            "SELECT * FROM tasks WHERE job_id = ? AND task_idx = ?", (job_id, idx)
        ).fetchone()
    return dict(row)


def controller_pid() -> int | None:
    try:
        with controller_db() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'pid'").fetchone()
    except sqlite3.Error:
        return None
    return json.loads(row[0]) if row else None


def wait_for(what: str, check: Callable[[], Any], timeout: float = DEADLINE_S) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` at the deadline."""
    deadline = time.time() + timeout
    last: Any = None
    while time.time() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def job(job_id: int) -> dict[str, Any]:
    from stix_jobs import sdk

    [row] = sdk.queue(job_ids=[job_id])
    return row


def wait_status(job_id: int, *wanted: str, timeout: float = DEADLINE_S) -> dict[str, Any]:
    return wait_for(  # type: ignore[no-any-return]
        f"job {job_id} to be {'/'.join(wanted)}",
        lambda: (r := job(job_id))["status"] in wanted and r,
        timeout,
    )


def job_clusters() -> list[str]:
    """Names of the clusters the controller currently holds (in its own state)."""
    with on_controller():
        from stix.state.clusters import ClusterStore

        return [r.name for r in ClusterStore().all()]


def preempt(cluster: str) -> list[str]:
    """Preempt every node of a job cluster, as a spot reclaim would."""
    with on_controller():
        from stix.clouds.local.provisioner import preempt as local_preempt
        from stix.state.clusters import ClusterStore

        record = ClusterStore().get(cluster)
        assert record is not None, f"no cluster {cluster}"
        return local_preempt((record.handle or {})["cluster_name_on_cloud"])


def crash_at(status: str) -> None:
    """Make the controller SIGKILL itself right after it next writes ``status``."""
    from stix_jobs.client import controller_home

    home = controller_home()
    assert home is not None
    (home / "jobs").mkdir(parents=True, exist_ok=True)
    (home / "jobs" / "crash_at").write_text(status)


def cleanup() -> None:
    """Stop every process of the controller and of the clusters it made; remove them."""
    from stix.clouds.local import sandbox
    from stix.sdk import down
    from stix.state.clusters import ClusterStore
    from stix_jobs.client import controller_home, controller_name

    home = controller_home()
    if home is not None:
        sandbox.kill_node(home.parent.parent, grace=0.2)  # the controller node: home/.stix
        with on_controller():  # job clusters on other clouds go through their provisioner
            for record in ClusterStore().all():
                if record.cloud != "local":
                    down(record.name, purge=True)
        for cluster in (home / "local").glob("*") if (home / "local").is_dir() else []:
            for node in cluster.glob("node-*"):
                sandbox.kill_node(node, grace=0.2)
    if ClusterStore().get(controller_name()) is not None:
        down(controller_name(), purge=True)
