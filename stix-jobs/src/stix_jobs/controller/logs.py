"""Names of a managed task's attempts, and the controller's copies of their logs."""

from __future__ import annotations

import time
from typing import Any

from stix_jobs import db
from stix_jobs.controller import actions


def attempt_names(job: Any, task: Any) -> tuple[str, str]:
    """(cluster name, agent job name) of a task's current attempt.

    The cluster name (``<task name, 25 chars>-<job id>[-<task index>]``) is the key by
    which a restarted controller finds the attempt's cluster again; the agent job name
    (``managed-<job>-<task>-<attempt>``) finds the attempt's job on it.
    """
    base = "".join(c if c.isalnum() else "-" for c in (task["name"] or "job"))[:25].strip("-")
    cluster = f"{base or 'job'}-{job['job_id']}"
    if job["num_tasks"] > 1:
        cluster += f"-{task['task_idx']}"
    return cluster, f"managed-{job['job_id']}-{task['task_idx']}-{task['attempt']}"


def task_ids(job: Any) -> list[str]:
    """``SKYPILOT_TASK_ID`` of each task: ``sky-managed-<time>_<name>_<job id>-<index>``."""
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(job["submitted_at"]))
    micro = int((job["submitted_at"] % 1) * 1e6)
    name = job["name"] or "job"
    return [
        f"sky-managed-{stamp}-{micro:06d}_{name}_{job['job_id']}-{i}"
        for i in range(job["num_tasks"])
    ]


def save_log(task: Any) -> None:
    """Copy the attempt's log from its cluster into the controller's copy (thread side)."""
    if task["agent_job_id"] is None:
        return
    cluster = task["worker"] or task["cluster"]
    rows = actions.agent_rows(cluster, [task["agent_job_id"]])
    row = (rows or {}).get(task["agent_job_id"])
    if not row or not row.get("log_dir"):
        return
    text = actions.read_logs(cluster, [row["log_dir"]]).get(row["log_dir"])
    write_log(task["job_id"], task["task_idx"], task["attempt"], text)


def write_log(job_id: int, idx: int, attempt: int, text: str | None) -> None:
    """Append one attempt's log to the controller's copy and mark it saved (once)."""
    path = db.log_path(job_id, idx)
    path.parent.mkdir(parents=True, exist_ok=True)
    marker = path.with_suffix(f".{attempt}.saved")
    if marker.exists():
        return
    with open(path, "ab") as fh:
        if text:
            fh.write(text.encode())
        size = fh.tell()
    marker.write_text(str(size))


def _partial(job_id: int, idx: int, attempt: int) -> Any:
    return db.log_path(job_id, idx).with_suffix(f".{attempt}.partial")


def write_partial(job_id: int, idx: int, attempt: int, text: str | None) -> None:
    """Keep the latest copy of a running attempt's log, in case its node is lost."""
    if text is None:
        return
    path = _partial(job_id, idx, attempt)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def keep_partial(job_id: int, idx: int, attempt: int) -> None:
    """An attempt ended without its final log (node gone): keep its last copy instead."""
    path = _partial(job_id, idx, attempt)
    try:
        text = path.read_text()
    except OSError:
        return
    write_log(job_id, idx, attempt, text)
    path.unlink(missing_ok=True)
