"""The controller's decisions on a launch result, against its real SQLite state."""

from __future__ import annotations

import time
from pathlib import Path

from stix_jobs import db, remote
from stix_jobs.controller import actions
from stix_jobs.controller.loop import Controller
from stix_jobs.controller.settings import Settings


def _controller(home: Path) -> Controller:
    with db.use_home(home):
        conn = db.connect()
    return Controller(conn, Settings(backoff_seconds=10, max_backoff_seconds=25))


def test_no_capacity_keeps_the_job_starting_with_backoff_and_reason(stix_home: Path) -> None:
    home = stix_home / "controller"
    with db.use_home(home):
        db.write_spec("s", [{"run": "true"}])
        c = _controller(home)
        [job_id] = db.insert_jobs(
            c.conn, spec_id="s", name="x", task_names=["x"], user="u", pool=None,
            priority=0, num_jobs=1, resources="1x",
        )  # fmt: skip
        c.set_task(job_id, 0, "STARTING", status="STARTING", phase="launch", cluster="x-1")
        waits = []
        for _ in range(3):
            before = time.time()
            c.launched(job_id, 0, None, actions.CapacityError("us-east-1a: no spot capacity"))
            row = c.conn.execute("SELECT * FROM tasks WHERE job_id = ?", (job_id,)).fetchone()
            waits.append(row["backoff"])
            assert row["status"] == "STARTING" and row["next_at"] >= before + row["backoff"]
        assert waits == [10, 20, 25]  # doubles, up to the ceiling
        [shown] = remote.dispatch(["queue"])["jobs"]
        assert shown["status"] == "STARTING"
        assert shown["reason"] == "no capacity, retrying in 25s: us-east-1a: no spot capacity"

        c.launched(job_id, 0, actions.Launched(7, "aws/us-east-1/us-east-1b"), None)
        [shown] = remote.dispatch(["queue"])["jobs"]
        assert (shown["status"], shown["reason"], shown["infra"]) == (
            "RUNNING", None, "aws/us-east-1/us-east-1b",
        )  # fmt: skip
