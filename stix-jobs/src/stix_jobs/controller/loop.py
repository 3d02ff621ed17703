"""The controller's event loop: one asyncio loop drives every managed job from the database.

Nothing about a job lives only in memory. Each pass reads the rows that need work, writes
the next state, and only then hands the blocking part (launch, check, teardown) to a small
thread pool; the result is written back on the loop thread. A controller started after a
crash therefore finds every job where the last write left it and carries on from there.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from stix_jobs import db, states
from stix_jobs.controller import actions
from stix_jobs.controller.faults import crash_point
from stix_jobs.controller.logs import attempt_names, keep_partial, save_log, task_ids, write_partial
from stix_jobs.controller.settings import Settings

log = logging.getLogger("stix_jobs.controller")

DEDICATED = "j.pool IS NULL"
KEEP = object()


class Controller:
    """Holds the database connection, the thread pool and what is in flight right now."""

    def __init__(self, conn: Any, settings: Settings) -> None:
        self.conn = conn
        self.settings = settings
        self.executor = ThreadPoolExecutor(max_workers=settings.threads)
        self.busy: set[Any] = set()  # keys of rows with an action in flight
        self.launching = 0
        self.wake: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.idle_since = time.time()
        self.stopping = False
        self.specs: dict[str, list[dict[str, Any]]] = {}
        self.tasks: dict[tuple[str, int], Any] = {}
        self.synced: dict[tuple[int, int], float] = {}
        from stix_jobs.controller.events import Callbacks
        from stix_jobs.controller.pools import Pools

        self.pools = Pools(self)
        self.events = Callbacks(self)

    # ------------------------------------------------------------------ plumbing

    def spawn(
        self, key: Any, fn: Callable[..., Any], *args: Any, done: Callable[..., None]
    ) -> None:
        """Run ``fn(*args)`` in the pool; ``done(result, error)`` runs on the loop thread."""
        assert self.loop is not None
        self.busy.add(key)
        future = self.loop.run_in_executor(self.executor, fn, *args)

        def finished(fut: asyncio.Future[Any]) -> None:
            self.busy.discard(key)
            error = fut.exception()
            try:
                done(None if error else fut.result(), error)
            except Exception:
                log.exception("controller: handling the result of %s failed", key)
            self.poke()

        future.add_done_callback(finished)

    def stop(self) -> None:
        """SIGTERM (the controller cluster stops): leave at once; the database has it all."""
        self.stopping = True
        self.poke()

    def poke(self) -> None:
        if self.wake is not None:
            self.wake.set()

    def spec(self, spec_id: str) -> list[dict[str, Any]]:
        if spec_id not in self.specs:
            if len(self.specs) > 256:
                self.specs.clear()
            self.specs[spec_id] = db.read_spec(spec_id)
        return self.specs[spec_id]

    def crash_point(self, status: str) -> None:
        crash_point(status)

    def set_task(self, job_id: int, idx: int, job_status: str | None = None, **fields: Any) -> None:
        """Write a task's fields (``reason`` goes to the job) and the job's status in one step."""
        now = time.time()
        reason = fields.pop("reason", KEEP)
        self.conn.execute("BEGIN IMMEDIATE")
        before = None
        try:
            if job_status is not None:
                before = self.job(job_id)["status"]
            if fields:
                cols = ", ".join(f"{k} = ?" for k in fields)
                self.conn.execute(
                    f"UPDATE tasks SET {cols} WHERE job_id = ? AND task_idx = ?",
                    [*fields.values(), job_id, idx],
                )
            if reason is not KEEP:
                self.conn.execute("UPDATE jobs SET reason = ? WHERE job_id = ?", (reason, job_id))
            if job_status is not None:
                extra = ""
                if job_status in states.TERMINAL:
                    extra = f", ended_at = COALESCE(ended_at, {now:f})"
                elif job_status in (states.STARTING, states.RUNNING):
                    extra = f", started_at = COALESCE(started_at, {now:f})"
                self.conn.execute(
                    f"UPDATE jobs SET status = ?{extra} WHERE job_id = ?", (job_status, job_id)
                )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        if job_status is not None and job_status != before:
            self.events.fire(job_id, idx, job_status)
        self.crash_point(job_status or fields.get("status") or "")

    def job(self, job_id: int) -> Any:
        return self.conn.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()

    # ------------------------------------------------------------------ the task of a job

    def names(self, job: Any, task: Any) -> tuple[str, str]:
        return attempt_names(job, task)

    def build(self, job: Any, task: Any) -> tuple[Any, dict[str, Any]]:
        """The ``Task`` and agent spec of a task's current attempt."""
        self.spec(job["spec_id"])
        ids = task_ids(job)
        envs = {
            "SKYPILOT_MANAGED_JOB_ID": str(job["job_id"]),
            "SKYPILOT_TASK_IDS": "\n".join(ids),
            "SKYPILOT_JOB_RANK": str(job["job_rank"]),
            "SKYPILOT_NUM_JOBS": str(job["num_jobs"]),
        }
        twins = {"STIX_" + k[len("SKYPILOT_") :]: v for k, v in envs.items()}
        obj = self.parsed(job["spec_id"], task["task_idx"])
        _, agent_name = self.names(job, task)
        spec = actions.agent_spec(obj, ids[task["task_idx"]], {**envs, **twins}, agent_name)
        if job["pool"]:
            spec.pop("setup", None)  # the pool's setup ran when the worker came up
        return obj, spec

    def parsed(self, spec_id: str, idx: int) -> Any:
        """The ``Task`` of a spec document, parsed once for every copy of a submission."""
        key = (spec_id, idx)
        if key not in self.tasks:
            if len(self.tasks) > 256:
                self.tasks.clear()
            self.tasks[key] = actions.build_task(self.spec(spec_id)[idx], {})
        return self.tasks[key]

    def recovery(self, job: Any, task: Any) -> dict[str, Any]:
        obj = self.parsed(job["spec_id"], task["task_idx"])
        rec: dict[str, Any] = {}
        for r in obj.resources:
            rec = dict(r.job_recovery or {}) or rec
        return rec

    # ------------------------------------------------------------------ passes

    def schedule(self) -> None:
        """Start pending tasks of dedicated-cluster jobs while launch slots are free."""
        free = self.settings.max_launches - self.launching
        if free <= 0:
            return
        rows = self.conn.execute(
            "SELECT t.*, j.cancel_requested FROM tasks t JOIN jobs j ON j.job_id = t.job_id "
            f"AND t.task_idx = j.current_task WHERE t.status = 'PENDING' AND {DEDICATED} "
            "AND j.cancel_requested = 0 AND j.status NOT IN ('CANCELLED', 'CANCELLING') "
            "ORDER BY j.priority DESC, j.job_id LIMIT ?",
            (free,),
        ).fetchall()
        for task in rows:
            job = self.job(task["job_id"])
            attempt = task["attempt"] + 1
            cluster, _ = self.names(job, {**dict(task), "attempt": attempt})
            self.set_task(
                job["job_id"],
                task["task_idx"],
                states.STARTING,
                status=states.STARTING,
                phase="launch",
                cluster=cluster,
                attempt=attempt,
                started_at=time.time(),
            )
            self.start_launch(job["job_id"], task["task_idx"])

    def resume(self) -> None:
        """Carry on with tasks whose last write asked for work nobody is doing now."""
        now = time.time()
        for task in self.conn.execute(
            "SELECT t.* FROM tasks t JOIN jobs j ON j.job_id = t.job_id AND "
            "t.task_idx = j.current_task WHERE (j.pool IS NULL OR t.status = 'CANCELLING') "
            "AND t.status IN "
            "('STARTING', 'RECOVERING', 'CANCELLING', 'RUNNING') AND t.next_at <= ?",
            (now,),
        ).fetchall():
            key = (task["job_id"], task["task_idx"])
            if key in self.busy:
                continue
            phase = task["phase"] or ""
            if task["status"] == states.CANCELLING:
                self.start_cancel(*key)
            elif phase.startswith("finish:"):
                self.start_finish(*key, phase[len("finish:") :])
            elif phase == "teardown":
                self.start_recover(*key)
            elif phase == "launch" and task["status"] != states.RUNNING:
                if self.launching < self.settings.max_launches or task["status"] == "RECOVERING":
                    self.start_launch(*key)
            elif task["status"] == states.RUNNING and len(self.busy) < self.settings.threads * 4:
                self.start_check(*key)

    def cancels(self) -> None:
        """Act on cancel requests of jobs that are not already being cancelled."""
        for job in self.conn.execute(
            "SELECT * FROM jobs WHERE cancel_requested = 1 AND status IN "
            "('PENDING', 'STARTING', 'RUNNING', 'RECOVERING')"
        ).fetchall():
            idx = job["current_task"]
            key = (job["job_id"], idx)
            if key in self.busy and job["status"] in (states.STARTING, states.RECOVERING):
                continue  # the launch in flight sees the request when it returns
            task = self.conn.execute(
                "SELECT * FROM tasks WHERE job_id = ? AND task_idx = ?", key
            ).fetchone()
            if task["phase"] == "dispatch":
                continue  # a pool job being handed to its worker: cancel it once it runs
            if task["status"] == states.PENDING and not task["worker"]:
                self.end_job(job["job_id"], idx, states.CANCELLED, "cancelled by the user")
                continue
            self.set_task(
                *key, states.CANCELLING, status=states.CANCELLING, phase="cancel", next_at=0
            )
            if key not in self.busy:
                self.start_cancel(*key)

    # ------------------------------------------------------------------ launch

    def start_launch(self, job_id: int, idx: int) -> None:
        job = self.job(job_id)
        task = self.conn.execute(
            "SELECT * FROM tasks WHERE job_id = ? AND task_idx = ?", (job_id, idx)
        ).fetchone()
        try:
            obj, spec = self.build(job, task)
        except Exception as exc:  # the spec no longer loads: nothing to retry
            self.end_job(job_id, idx, states.FAILED_PRECHECKS, f"invalid task: {exc}")
            return
        strategy = self.recovery(job, task).get("strategy") or states.DEFAULT_STRATEGY
        recovering = task["status"] == states.RECOVERING
        last = task["infra"] if recovering else None
        self.launching += 1

        def work() -> actions.Launched:
            if not recovering:
                actions.precheck(obj)
            tries = actions.placements(obj, strategy, last)
            return actions.launch(
                task["cluster"], tries, spec, autodown_minutes=self.settings.autodown_minutes
            )

        def done(result: actions.Launched | None, error: BaseException | None) -> None:
            self.launching -= 1
            self.launched(job_id, idx, result, error)

        self.spawn((job_id, idx), work, done=done)

    def launched(
        self, job_id: int, idx: int, result: actions.Launched | None, error: BaseException | None
    ) -> None:
        from stix.errors import StixError

        job = self.job(job_id)
        task = self.conn.execute(
            "SELECT * FROM tasks WHERE job_id = ? AND task_idx = ?", (job_id, idx)
        ).fetchone()
        if job["cancel_requested"]:
            self.set_task(job_id, idx, states.CANCELLING, status=states.CANCELLING, phase="cancel")
            self.start_cancel(job_id, idx)
            return
        if result is not None:
            self.set_task(
                job_id,
                idx,
                states.RUNNING,
                status=states.RUNNING,
                phase="run",
                agent_job_id=result.agent_job_id,
                infra=result.infra,
                next_at=time.time() + self.settings.poll_seconds,
                backoff=0,
                silent=0,
                reason=None,
            )
            return
        if isinstance(error, actions.PrecheckError):
            self.finish_with(job_id, idx, states.FAILED_PRECHECKS, str(error))
            return
        if isinstance(error, (actions.CapacityError, StixError)):
            backoff = min(
                max(task["backoff"] * 2, self.settings.backoff_seconds),
                self.settings.max_backoff_seconds,
            )
            message = getattr(error, "message", None) or str(error)
            reason = f"no capacity, retrying in {backoff:g}s: {message}"
            self.set_task(
                job_id, idx, job["status"], next_at=time.time() + backoff, backoff=backoff,
                reason=reason,
            )  # fmt: skip
            return
        log.error("controller: launching job %s failed", job_id, exc_info=error)
        self.finish_with(job_id, idx, states.FAILED_CONTROLLER, f"controller error: {error!r}")

    # ------------------------------------------------------------------ running

    def start_check(self, job_id: int, idx: int) -> None:
        task = self.conn.execute(
            "SELECT * FROM tasks WHERE job_id = ? AND task_idx = ?", (job_id, idx)
        ).fetchone()
        cluster, agent_job_id, attempt = task["cluster"], task["agent_job_id"], task["attempt"]
        key = (job_id, idx)
        sync = time.time() - self.synced.get(key, 0) >= self.settings.log_sync_seconds
        if sync:
            self.synced[key] = time.time()

        def work() -> actions.Check:
            result = actions.check(cluster, agent_job_id)
            if sync and result.kind == "running" and result.log_dir:
                text = actions.read_logs(cluster, [result.log_dir]).get(result.log_dir)
                write_partial(job_id, idx, attempt, text)
            return result

        self.spawn(key, work, done=lambda r, e: self.checked(job_id, idx, r, e))

    def checked(
        self, job_id: int, idx: int, result: actions.Check | None, error: BaseException | None
    ) -> None:
        task = self.conn.execute(
            "SELECT * FROM tasks WHERE job_id = ? AND task_idx = ?", (job_id, idx)
        ).fetchone()
        if task["status"] != states.RUNNING:
            return
        later = time.time() + self.settings.poll_seconds
        if error is not None or result is None:
            log.warning("controller: checking job %s failed: %r", job_id, error)
            self.set_task(job_id, idx, next_at=later)
            return
        if result.kind == "running":
            self.set_task(job_id, idx, next_at=later, silent=0)
            return
        if result.kind == "silent" and task["silent"] + 1 < self.settings.silent_checks:
            self.set_task(job_id, idx, next_at=later, silent=task["silent"] + 1)
            return
        if result.kind == "done" and result.status == "FAILED_DRIVER" and not task["silent"]:
            # a driver that died is what a dying node looks like: look once more, so a
            # preemption caught half-way is not taken for a user failure
            self.set_task(job_id, idx, next_at=later, silent=1)
            return
        if result.kind in ("preempted", "silent"):
            why = "preempted" if result.kind == "preempted" else "node agent went silent"
            self.recover(job_id, idx, f"recovering: {why}", count_restart=False)
            return
        self.decide(job_id, idx, result)

    def decide(self, job_id: int, idx: int, result: actions.Check) -> None:
        """The agent job ended on a healthy cluster: succeed, restart or fail."""
        job = self.job(job_id)
        task = self.conn.execute(
            "SELECT * FROM tasks WHERE job_id = ? AND task_idx = ?", (job_id, idx)
        ).fetchone()
        self.conn.execute(
            "UPDATE tasks SET exit_codes = ? WHERE job_id = ? AND task_idx = ?",
            (json.dumps(list(result.exit_codes)), job_id, idx),
        )
        if result.status == "SUCCEEDED":
            self.set_task(job_id, idx, phase=f"finish:{states.SUCCEEDED}")
            self.start_finish(job_id, idx, states.SUCCEEDED)
            return
        if result.status == "CANCELLED":
            self.set_task(job_id, idx, phase=f"finish:{states.CANCELLED}")
            self.start_finish(job_id, idx, states.CANCELLED)
            return
        rec = self.recovery(job, task)
        codes = set(rec.get("recover_on_exit_codes") or [])
        if codes & set(result.exit_codes):
            self.recover(job_id, idx, f"restarting: exit code in {sorted(codes)}", False, True)
            return
        if task["restarts"] < int(rec.get("max_restarts_on_errors") or 0):
            self.recover(job_id, idx, "restarting after a user error", True, True)
            return
        final = states.FAILED_SETUP if result.status == "FAILED_SETUP" else states.FAILED
        self.set_task(job_id, idx, phase=f"finish:{final}")
        self.start_finish(job_id, idx, final)

    # ------------------------------------------------------------------ recovery

    def recover(
        self, job_id: int, idx: int, reason: str, count_restart: bool, save: bool = False
    ) -> None:
        task = self.conn.execute(
            "SELECT * FROM tasks WHERE job_id = ? AND task_idx = ?", (job_id, idx)
        ).fetchone()
        self.set_task(
            job_id,
            idx,
            states.RECOVERING,
            status=states.RECOVERING,
            phase="teardown",
            recoveries=task["recoveries"] + (0 if count_restart else 1),
            restarts=task["restarts"] + (1 if count_restart else 0),
            reason=reason,
            silent=0,
            next_at=0,
        )
        self.start_recover(job_id, idx, save=save)

    def start_recover(self, job_id: int, idx: int, save: bool = True) -> None:
        task = self.conn.execute(
            "SELECT * FROM tasks WHERE job_id = ? AND task_idx = ?", (job_id, idx)
        ).fetchone()

        def work() -> None:
            if save:
                save_log(task)
            keep_partial(job_id, idx, task["attempt"])
            actions.teardown(task["cluster"])

        def then() -> None:
            self.set_task(job_id, idx, phase="launch", attempt=task["attempt"] + 1)
            self.start_launch(job_id, idx)

        self.then_or_retry(job_id, idx, work, then)

    def then_or_retry(
        self, job_id: int, idx: int, work: Callable[[], None], then: Callable[[], None]
    ) -> None:
        """Run cleanup ``work``, then ``then`` on the loop; a failure is tried again later."""

        def done(_: Any, error: BaseException | None) -> None:
            if error is not None:
                log.warning("controller: cleanup of job %s failed: %r", job_id, error)
                self.set_task(job_id, idx, next_at=time.time() + self.settings.poll_seconds)
                return
            then()

        self.spawn((job_id, idx), work, done=done)

    # ------------------------------------------------------------------ endings

    def start_finish(self, job_id: int, idx: int, final: str) -> None:
        task = self.conn.execute(
            "SELECT * FROM tasks WHERE job_id = ? AND task_idx = ?", (job_id, idx)
        ).fetchone()

        def work() -> None:
            save_log(task)
            keep_partial(job_id, idx, task["attempt"])  # when the cluster could not answer
            actions.teardown(task["cluster"])

        self.then_or_retry(job_id, idx, work, lambda: self.advance(job_id, idx, final))

    def finish_with(self, job_id: int, idx: int, final: str, reason: str) -> None:
        self.set_task(job_id, idx, phase=f"finish:{final}", reason=reason)
        self.start_finish(job_id, idx, final)

    def advance(self, job_id: int, idx: int, final: str) -> None:
        """A task ended: start the pipeline's next task, or end the job."""
        job = self.job(job_id)
        if final == states.SUCCEEDED and idx + 1 < job["num_tasks"]:
            self.conn.execute("BEGIN IMMEDIATE")
            self.close_task(job_id, idx, final)
            self.conn.execute(
                "UPDATE jobs SET current_task = ?, status = 'STARTING' WHERE job_id = ?",
                (idx + 1, job_id),
            )
            self.conn.execute("COMMIT")
            self.events.fire(job_id, idx + 1, states.STARTING)
            return
        self.end_job(job_id, idx, final, None if final == states.SUCCEEDED else job["reason"])

    def close_task(self, job_id: int, idx: int, final: str) -> None:
        """Mark one task ended (inside the caller's transaction)."""
        self.conn.execute(
            "UPDATE tasks SET status = ?, phase = NULL, ended_at = ? WHERE job_id = ? "
            "AND task_idx = ?",
            (final, time.time(), job_id, idx),
        )

    def end_job(self, job_id: int, idx: int, final: str, reason: str | None) -> None:
        now = time.time()
        self.conn.execute("BEGIN IMMEDIATE")
        self.close_task(job_id, idx, final)
        # A pipeline that stops here never runs its later tasks.
        later = states.CANCELLED if final == states.CANCELLED else states.FAILED
        self.conn.execute(
            "UPDATE tasks SET status = ? WHERE job_id = ? AND task_idx > ? AND status = 'PENDING'",
            (later, job_id, idx),
        )
        self.conn.execute(
            "UPDATE jobs SET status = ?, ended_at = ?, reason = ? WHERE job_id = ?",
            (final, now, reason, job_id),
        )
        self.conn.execute("COMMIT")
        self.events.fire(job_id, idx, final)
        self.crash_point(final)

    def start_cancel(self, job_id: int, idx: int) -> None:
        task = self.conn.execute(
            "SELECT * FROM tasks WHERE job_id = ? AND task_idx = ?", (job_id, idx)
        ).fetchone()

        def work() -> None:
            if task["agent_job_id"] is not None and task["phase"] != "launch":
                cluster = task["worker"] or task["cluster"]
                actions.cancel_agent_job(cluster, task["agent_job_id"])
                save_log(task)
                keep_partial(job_id, idx, task["attempt"])
            if task["cluster"] and not task["worker"]:
                actions.teardown(task["cluster"])

        self.then_or_retry(
            job_id,
            idx,
            work,
            lambda: self.end_job(job_id, idx, states.CANCELLED, "cancelled by the user"),
        )

    # ------------------------------------------------------------------ main loop

    def active(self) -> bool:
        placeholders = ",".join("?" * len(states.ACTIVE))
        row = self.conn.execute(
            f"SELECT 1 FROM jobs WHERE status IN ({placeholders}) LIMIT 1", states.ACTIVE
        ).fetchone()
        pools = self.conn.execute("SELECT 1 FROM pools LIMIT 1").fetchone()
        return bool(row or pools or self.busy)

    def retire(self) -> bool:
        """Clear the controller's pid unless work arrived; a submitter seeing no pid starts one."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            idle = not self.active()
            if idle:
                db.set_meta(self.conn, "pid", None)
        finally:
            self.conn.execute("COMMIT")
        return idle

    def step(self) -> None:
        self.cancels()
        self.resume()
        self.schedule()
        self.pools.step()

    async def run(self) -> int:
        self.loop = asyncio.get_running_loop()
        self.wake = asyncio.Event()
        self.loop.add_signal_handler(signal.SIGUSR1, self.poke)
        self.loop.add_signal_handler(signal.SIGTERM, self.stop)
        log.info("controller %d started", os.getpid())
        while not self.stopping:
            self.wake.clear()
            try:
                self.step()
            except Exception:
                log.exception("controller: a pass failed; retrying at the next tick")
            if self.active():
                self.idle_since = time.time()
            elif time.time() - self.idle_since >= self.settings.idle_seconds and self.retire():
                log.info("controller idle for %gs: exiting", self.settings.idle_seconds)
                self.executor.shutdown(wait=True)
                return 0
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=self.settings.tick_seconds)
            except asyncio.TimeoutError:
                pass
        log.info("controller %d stopped by SIGTERM", os.getpid())
        self.executor.shutdown(wait=False, cancel_futures=True)
        return 0
