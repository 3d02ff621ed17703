"""FIFO scheduling with head-of-line blocking and no over-commit, plus driver health checks."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from typing import Any, Callable, Dict, List

from . import db, nodes, procs, states

INIT_TIMEOUT = 60.0
CLAIM_TIMEOUT = 60.0


def usage(conn: sqlite3.Connection) -> Dict[int, Dict[str, Any]]:
    """Resources held by jobs that are setting up or running, per node index."""
    used: Dict[int, Dict[str, Any]] = {}
    rows = conn.execute(
        "SELECT nodes, cpus, gpus, memory FROM jobs WHERE status IN (?, ?)", states.ACTIVE
    )
    for row in rows:
        for index, gpu_ids in json.loads(row["nodes"] or "[]"):
            use = used.setdefault(index, {"cpus": 0.0, "gpus": 0.0, "memory": 0.0, "gpu_ids": []})
            use["cpus"] += row["cpus"]
            use["gpus"] += row["gpus"]
            use["memory"] += row["memory"]
            use["gpu_ids"].extend(gpu_ids)
    return used


def schedule_step(
    conn: sqlite3.Connection, cluster: Dict[str, Any], start: Callable[[int], None]
) -> List[int]:
    """Start pending jobs in id order while they fit; stop at the first that does not.

    :param start: called with each claimed job id (forks its driver).
    :returns: the started job ids.
    """
    all_nodes = cluster["nodes"]
    used = usage(conn)
    started: List[int] = []
    while True:
        row = conn.execute(
            "SELECT job_id, num_nodes, cpus, gpus, memory, has_setup FROM jobs WHERE status = ? "
            "ORDER BY job_id LIMIT 1",
            (states.PENDING,),
        ).fetchone()
        if row is None:
            break
        fit = nodes.fit_nodes(
            all_nodes, used, row["num_nodes"], row["cpus"], row["gpus"], row["memory"]
        )
        if fit is None:
            break  # head-of-line blocking: later jobs wait behind this one
        claimed = db.set_status(
            conn,
            row["job_id"],
            states.SETTING_UP if row["has_setup"] else states.RUNNING,
            only_from=[states.PENDING],
            nodes=[[i, g] for i, g in fit],
            start_at=time.time(),
        )
        if not claimed:
            continue
        for index, gpu_ids in fit:
            use = used.setdefault(index, {"cpus": 0.0, "gpus": 0.0, "memory": 0.0, "gpu_ids": []})
            use["cpus"] += row["cpus"]
            use["gpus"] += row["gpus"]
            use["memory"] += row["memory"]
            use["gpu_ids"].extend(gpu_ids)
        started.append(row["job_id"])
        start(row["job_id"])
    return started


def kill_ranks(cluster: Dict[str, Any], pgids_json: str, sig: int = signal.SIGKILL) -> None:
    """Signal every rank process group recorded for a job."""
    for index, pgid, key in json.loads(pgids_json or "[]"):
        nodes.kill(cluster["nodes"][index], pgid, key, sig)


def check_drivers(conn: sqlite3.Connection, cluster: Dict[str, Any]) -> List[int]:
    """Mark jobs whose driver died (or never started) FAILED_DRIVER; return their ids."""
    now = time.time()
    failed: List[int] = []
    rows = conn.execute(
        "SELECT job_id, status, driver_pid, driver_start, pgids, start_at, submitted_at "
        "FROM jobs WHERE status IN (?, ?, ?)",
        (states.INIT, states.SETTING_UP, states.RUNNING),
    ).fetchall()
    for row in rows:
        if row["status"] == states.INIT:
            dead = now - row["submitted_at"] > INIT_TIMEOUT
        elif row["driver_pid"]:
            dead = not procs.alive(row["driver_pid"], row["driver_start"])
        else:
            dead = now - (row["start_at"] or now) > CLAIM_TIMEOUT
        if dead and db.set_status(
            conn, row["job_id"], states.FAILED_DRIVER, only_from=[row["status"]]
        ):
            kill_ranks(cluster, row["pgids"])
            note_driver_death(conn, row["job_id"])
            failed.append(row["job_id"])
    return failed


DRIVER_DIED = (
    "ERROR: the job's driver process died before the job ended (the node agent was "
    "probably killed); the job's processes were stopped. Its state is FAILED_DRIVER; "
    "run it again with: stix exec <cluster> <task>\n"
)


def note_driver_death(conn: sqlite3.Connection, job_id: int) -> None:
    """Say in the job's log why it ended, so ``stix logs`` shows the reason and next step."""
    row = conn.execute("SELECT log_dir FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
    if row is None or not row["log_dir"]:
        return
    try:
        os.makedirs(row["log_dir"], exist_ok=True)
        with open(os.path.join(row["log_dir"], "run.log"), "a") as fh:
            fh.write(DRIVER_DIED)
    except OSError:
        pass
