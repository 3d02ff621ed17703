"""``event_callback``: the task's bash snippet, run by the controller at each job status change.

Callbacks run one at a time, in order, on their own thread, so a slow one never holds up
the controller; each job task's output goes to
``~/sky_logs/managed_job_event/jobs-callback-<job>-<task>.log`` on the controller node.
"""

from __future__ import annotations

import logging
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stix_jobs.controller.loop import Controller

log = logging.getLogger("stix_jobs.controller")
CALLBACK_TIMEOUT_S = 300.0


class Callbacks:
    """Fires ``event_callback`` of a job's task when the job's status changes."""

    def __init__(self, controller: Controller) -> None:
        self.c = controller
        self.executor = ThreadPoolExecutor(max_workers=1)

    def fire(self, job_id: int, idx: int, status: str) -> None:
        job = self.c.job(job_id)
        task = self.c.parsed(job["spec_id"], idx)
        if not task.event_callback:
            return
        row = self.c.conn.execute(
            "SELECT cluster, name FROM tasks WHERE job_id = ? AND task_idx = ?", (job_id, idx)
        ).fetchone()
        from stix_jobs.controller.logs import task_ids

        ids = task_ids(job)
        env = {
            **os.environ,
            **{k: str(v) for k, v in task.envs.items()},
            "SKYPILOT_TASK_ID": ids[idx],
            "SKYPILOT_TASK_IDS": "\n".join(ids),
            "TASK_ID": str(idx),
            "JOB_ID": str(job_id),
            "JOB_STATUS": status,
            "CLUSTER_NAME": row["cluster"] or "",
            "TASK_NAME": row["name"] or "",
            "EVENT_TYPE": "Spot",
        }
        self.executor.submit(run_callback, task.event_callback, env, job_id, idx)


def run_callback(script: str, env: dict[str, str], job_id: int, idx: int) -> None:
    """Run one callback (thread side); its failure is logged, never raised."""
    folder = Path.home() / "sky_logs" / "managed_job_event"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"jobs-callback-{job_id}-{idx}.log", "ab") as out:
        try:
            subprocess.run(
                ["bash", "-c", script],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=CALLBACK_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("event_callback of job %s failed: %r", job_id, exc)
