"""Pools in the controller: keep each pool's warm workers at its size, hand them jobs, watch them.

A worker is a cluster named ``<pool>-<id>`` that ran the pool's setup once. Jobs go to
free workers in batches (one agent call per worker and pass), are watched in batches,
and their logs are read in one command per worker. Shrinking a pool removes idle
workers first; a busy worker is drained (no new jobs) and removed when its jobs end.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from stix_jobs import states
from stix_jobs.controller import actions

if TYPE_CHECKING:
    from stix_jobs.controller.loop import Controller

W_DRAINING = "DRAINING"
UPSCALE_DELAY_S = 300.0
DOWNSCALE_DELAY_S = 1200.0
BUSY = "('STARTING', 'RUNNING', 'CANCELLING')"


class Pools:
    """The pool half of the controller; shares its database, pool and busy set."""

    def __init__(self, controller: Controller) -> None:
        self.c = controller
        self.wanted: dict[str, tuple[bool, float]] = {}  # pool -> (scaling up?, since when)

    @property
    def conn(self) -> Any:
        return self.c.conn

    def step(self) -> None:
        self.reconcile()
        self.dispatch()
        self.resume_dispatch()
        self.monitor()

    # ------------------------------------------------------------------ workers

    def busy_counts(self) -> dict[str, int]:
        return {
            r[0]: r[1]
            for r in self.conn.execute(
                f"SELECT worker, COUNT(*) FROM tasks WHERE worker IS NOT NULL AND status IN {BUSY} "
                "GROUP BY worker"
            )
        }

    def set_worker(self, pool: str, worker_id: int, **fields: Any) -> None:
        cols = ", ".join(f"{k} = ?" for k in fields)
        self.conn.execute(
            f"UPDATE workers SET {cols} WHERE pool = ? AND worker_id = ?",
            [*fields.values(), pool, worker_id],
        )

    def reconcile(self) -> None:
        busy = self.busy_counts()
        now = time.time()
        for pool in self.conn.execute("SELECT * FROM pools").fetchall():
            name = pool["name"]
            target = self.autoscale(pool, now) if pool["status"] == "READY" else 0
            workers = self.conn.execute(
                "SELECT * FROM workers WHERE pool = ? ORDER BY worker_id", (name,)
            ).fetchall()
            if pool["status"] != "READY":
                self.fail_pending(name, "the pool is shutting down")
                if not workers:
                    self.conn.execute("DELETE FROM pools WHERE name = ?", (name,))
                    continue
            live = [w for w in workers if w["status"] in (states.W_PROVISIONING, states.W_READY)]
            next_id = max((w["worker_id"] for w in workers), default=0) + 1
            for i in range(target - len(live)):
                wid = next_id + i
                self.conn.execute(
                    "INSERT INTO workers (pool, worker_id, cluster, status, spec_id, created_at) "
                    "VALUES (?,?,?,?,?,?)",
                    (name, wid, f"{name}-{wid}", states.W_PROVISIONING, pool["spec_id"], now),
                )
            if len(live) > target:
                # idle workers go first, then the newest
                order = sorted(live, key=lambda w: (busy.get(w["cluster"], 0), -w["worker_id"]))
                for w in order[: len(live) - target]:
                    status = W_DRAINING if busy.get(w["cluster"]) else states.W_SHUTTING_DOWN
                    self.set_worker(name, w["worker_id"], status=status)
            for w in self.conn.execute("SELECT * FROM workers WHERE pool = ?", (name,)).fetchall():
                self.worker_work(w, busy, now)

    def autoscale(self, pool: Any, now: float) -> int:
        """The pool's size: fixed ``workers``, or queue-length scaling in [min, max].

        More queued jobs than ``queue_length_threshold`` adds a worker once that has held
        for ``upscale_delay_seconds``; fewer removes one (an empty queue goes straight to
        ``min_workers``) once that has held for ``downscale_delay_seconds``.
        """
        spec = self.c.parsed(pool["spec_id"], 0).pool
        current = int(pool["workers"])
        if spec is None or spec.max_workers is None:
            return current
        low, high = spec.min_workers or 0, spec.max_workers
        pending = self.conn.execute(
            "SELECT COUNT(*) FROM tasks t JOIN jobs j ON j.job_id = t.job_id AND "
            "t.task_idx = j.current_task WHERE j.pool = ? AND t.status = 'PENDING'",
            (pool["name"],),
        ).fetchone()[0]
        threshold = spec.queue_length_threshold if spec.queue_length_threshold is not None else 1
        if pending > threshold:
            want, delay = current + 1, spec.upscale_delay_seconds
        elif pending == 0:
            want, delay = low, spec.downscale_delay_seconds
        elif pending < threshold:
            want, delay = current - 1, spec.downscale_delay_seconds
        else:
            want, delay = current, 0
        want = max(low, min(high, want))
        if want == current:
            self.wanted.pop(pool["name"], None)
            return current
        since = self.wanted.setdefault(pool["name"], (want > current, now))
        if since[0] != (want > current):
            self.wanted[pool["name"]] = since = (want > current, now)
        default = UPSCALE_DELAY_S if want > current else DOWNSCALE_DELAY_S
        if now - since[1] < (delay if delay is not None else default):
            return current
        self.wanted.pop(pool["name"], None)
        self.conn.execute("UPDATE pools SET workers = ? WHERE name = ?", (want, pool["name"]))
        return want

    def worker_work(self, w: Any, busy: dict[str, int], now: float) -> None:
        key = ("worker", w["cluster"])
        if key in self.c.busy:
            return
        status = w["status"]
        if status == W_DRAINING and not busy.get(w["cluster"]):
            self.set_worker(w["pool"], w["worker_id"], status=states.W_SHUTTING_DOWN)
            status = states.W_SHUTTING_DOWN
        if status == states.W_PROVISIONING:
            self.start_worker(w)
        elif status == states.W_SHUTTING_DOWN or (
            status == states.W_FAILED and now - w["created_at"] >= self.c.settings.backoff_seconds
        ):

            def removed(_: Any, error: BaseException | None) -> None:
                if error is None:
                    self.conn.execute(
                        "DELETE FROM workers WHERE pool = ? AND worker_id = ?",
                        (w["pool"], w["worker_id"]),
                    )

            self.c.spawn(key, actions.teardown, w["cluster"], done=removed)

    def start_worker(self, w: Any) -> None:
        docs = self.c.spec(w["spec_id"])
        task = actions.build_task(docs[0], {}).copy(pool=None)

        def done(infra: str | None, error: BaseException | None) -> None:
            if error is None:
                self.set_worker(w["pool"], w["worker_id"], status=states.W_READY, reason=infra)
                return
            reason = getattr(error, "message", None) or str(error)
            self.set_worker(
                w["pool"], w["worker_id"], status=states.W_FAILED, reason=reason,
                created_at=time.time(),
            )  # fmt: skip

        self.c.spawn(("worker", w["cluster"]), actions.launch_worker, w["cluster"], task, done=done)

    def fail_pending(self, pool: str, reason: str) -> None:
        for t in self.conn.execute(
            "SELECT t.job_id, t.task_idx FROM tasks t JOIN jobs j ON j.job_id = t.job_id "
            "WHERE j.pool = ? AND t.status = 'PENDING' AND t.task_idx = j.current_task",
            (pool,),
        ).fetchall():
            self.c.end_job(t["job_id"], t["task_idx"], states.FAILED_NO_RESOURCE, reason)

    # ------------------------------------------------------------------ jobs

    def dispatch(self) -> None:
        """Give pending pool jobs to workers with a free slot (one write for the batch)."""
        busy = self.busy_counts()
        per = self.c.settings.pool_jobs_per_worker
        free: dict[str, list[str]] = defaultdict(list)
        for w in self.conn.execute(
            "SELECT w.* FROM workers w JOIN pools p ON p.name = w.pool WHERE w.status = ? "
            "AND p.status = 'READY' ORDER BY w.worker_id",
            (states.W_READY,),
        ):
            room = per - busy.get(w["cluster"], 0)
            free[w["pool"]].extend([w["cluster"]] * max(0, room))
        if not any(free.values()):
            return
        assigned: list[tuple[str, int, int]] = []
        for pool, free_of_pool in free.items():
            if not free_of_pool:
                continue
            rows = self.conn.execute(
                "SELECT t.job_id, t.task_idx FROM tasks t JOIN jobs j ON j.job_id = t.job_id "
                "AND t.task_idx = j.current_task WHERE j.pool = ? AND t.status = 'PENDING' AND "
                "j.cancel_requested = 0 ORDER BY j.priority DESC, j.job_id LIMIT ?",
                (pool, len(free_of_pool)),
            ).fetchall()
            # spread over workers: one slot of each worker before a second one
            order = sorted(
                range(len(free_of_pool)),
                key=lambda i: free_of_pool[: i + 1].count(free_of_pool[i]),
            )
            for row, i in zip(rows, order, strict=False):
                assigned.append((free_of_pool[i], row["job_id"], row["task_idx"]))
        if not assigned:
            return
        now = time.time()
        self.conn.execute("BEGIN IMMEDIATE")
        for worker, job_id, idx in assigned:
            self.conn.execute(
                "UPDATE tasks SET status = 'STARTING', phase = 'dispatch', worker = ?, "
                "cluster = ?, attempt = attempt + 1, started_at = COALESCE(started_at, ?) "
                "WHERE job_id = ? AND task_idx = ?",
                (worker, worker, now, job_id, idx),
            )
            self.conn.execute(
                "UPDATE jobs SET status = CASE WHEN status = 'RECOVERING' THEN status ELSE "
                "'STARTING' END, started_at = COALESCE(started_at, ?) WHERE job_id = ?",
                (now, job_id),
            )
        self.conn.execute("COMMIT")
        self.c.crash_point(states.STARTING)

    def resume_dispatch(self) -> None:
        """Send dispatched-but-unconfirmed jobs to their workers (also after a restart)."""
        by_worker: dict[str, list[Any]] = defaultdict(list)
        for t in self.conn.execute(
            "SELECT * FROM tasks WHERE status = 'STARTING' AND phase = 'dispatch'"
        ).fetchall():
            by_worker[t["worker"]].append(t)
        for worker, tasks in by_worker.items():
            key = ("submit", worker)
            if key in self.c.busy:
                continue
            specs = []
            for t in tasks:
                job = self.c.job(t["job_id"])
                specs.append(self.c.build(job, t)[1])
            self.c.spawn(
                key,
                self.submit,
                worker,
                specs,
                done=lambda r, e, ts=tasks: self.submitted(ts, r, e),
            )

    @staticmethod
    def submit(worker: str, specs: list[dict[str, Any]]) -> dict[str, int]:
        """Thread side: submit what the worker does not already have; map agent name -> id."""
        rows = actions.agent_rows(worker, [])
        if rows is None:
            from stix.errors import ClusterError

            raise ClusterError(f"pool worker {worker} does not answer")
        have = {r["name"]: jid for jid, r in rows.items()}
        missing = [s for s in specs if s["name"] not in have]
        if missing:
            ids = actions.submit_many(worker, missing)
            have.update({s["name"]: i for s, i in zip(missing, ids, strict=False)})
        return {s["name"]: have[s["name"]] for s in specs}

    def submitted(self, tasks: list[Any], ids: dict[str, int] | None, error: Any) -> None:
        now = time.time()
        self.conn.execute("BEGIN IMMEDIATE")
        for t in tasks:
            job = self.c.job(t["job_id"])
            _, name = self.c.names(job, t)
            if ids is None or name not in ids:
                self.conn.execute(
                    "UPDATE tasks SET status = 'PENDING', phase = NULL, worker = NULL, "
                    "cluster = NULL WHERE job_id = ? AND task_idx = ?",
                    (t["job_id"], t["task_idx"]),
                )
                continue
            self.conn.execute(
                "UPDATE tasks SET status = 'RUNNING', phase = 'run', agent_job_id = ?, "
                "next_at = ? WHERE job_id = ? AND task_idx = ?",
                (ids[name], now + self.c.settings.poll_seconds, t["job_id"], t["task_idx"]),
            )
            self.conn.execute(
                "UPDATE jobs SET status = 'RUNNING', reason = NULL WHERE job_id = ? AND "
                "status IN ('STARTING', 'RECOVERING')",
                (t["job_id"],),
            )
        self.conn.execute("COMMIT")
        for t in tasks:
            if ids is not None and self.c.names(self.c.job(t["job_id"]), t)[1] in ids:
                self.c.events.fire(t["job_id"], t["task_idx"], states.RUNNING)
        self.c.crash_point(states.RUNNING)

    def monitor(self) -> None:
        now = time.time()
        by_worker: dict[str, list[Any]] = defaultdict(list)
        for t in self.conn.execute(
            "SELECT t.* FROM tasks t JOIN jobs j ON j.job_id = t.job_id WHERE "
            "j.pool IS NOT NULL AND t.status = 'RUNNING' AND t.next_at <= ?",
            (now,),
        ).fetchall():
            by_worker[t["worker"]].append(t)
        for worker, tasks in by_worker.items():
            key = ("watch", worker)
            if key not in self.c.busy:
                self.c.spawn(key, self.watch, worker, tasks, done=lambda r, e: self.watched(r, e))

    @staticmethod
    def watch(worker: str, tasks: list[Any]) -> dict[str, Any]:
        """Thread side: one agent call for every watched job; logs of the finished ones."""
        ids = [t["agent_job_id"] for t in tasks]
        rows = actions.agent_rows(worker, ids)
        if rows is None:
            return {"worker": worker, "tasks": tasks, "gone": actions.cluster_gone(worker)}
        ended = [r for r in rows.values() if r.get("status") in states.AGENT_TERMINAL]
        dirs = [r["log_dir"] for r in ended if r.get("log_dir")]
        logs = actions.read_logs(worker, dirs) if dirs else {}
        return {"worker": worker, "tasks": tasks, "rows": rows, "logs": logs}

    def watched(self, result: dict[str, Any] | None, error: Any) -> None:
        if result is None:
            return
        later = time.time() + self.c.settings.poll_seconds
        tasks, worker = result["tasks"], result["worker"]
        if "rows" not in result:
            if result["gone"]:
                self.worker_lost(worker)
            return
        from stix_jobs.controller.logs import write_log

        rows, logs = result["rows"], result["logs"]
        for t in tasks:
            row = rows.get(t["agent_job_id"])
            status = row.get("status") if row else None
            if row is None or status not in states.AGENT_TERMINAL:
                self.conn.execute(
                    "UPDATE tasks SET next_at = ? WHERE job_id = ? AND task_idx = ?",
                    (later, t["job_id"], t["task_idx"]),
                )
                continue
            write_log(t["job_id"], t["task_idx"], t["attempt"], logs.get(row.get("log_dir")))
            self.ended(t, status, list(actions.exit_codes(row)))

    def ended(self, t: Any, status: str, codes: list[int]) -> None:
        job = self.c.job(t["job_id"])
        if status == "SUCCEEDED":
            self.c.end_job(t["job_id"], t["task_idx"], states.SUCCEEDED, None)
            return
        if status == "CANCELLED":
            self.c.end_job(t["job_id"], t["task_idx"], states.CANCELLED, "cancelled")
            return
        rec = self.c.recovery(job, t)
        retry_codes = set(rec.get("recover_on_exit_codes") or [])
        if retry_codes & set(codes) or t["restarts"] < int(rec.get("max_restarts_on_errors") or 0):
            counted = not (retry_codes & set(codes))
            self.requeue(t, "restarting after a user error", restart=counted)
            return
        final = states.FAILED_SETUP if status == "FAILED_SETUP" else states.FAILED
        self.c.end_job(t["job_id"], t["task_idx"], final, f"job ended {status} (exit {codes})")

    def requeue(self, t: Any, reason: str, *, restart: bool) -> None:
        """Put a pool job back in the queue for another worker (a recovery)."""
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute(
            "UPDATE tasks SET status = 'PENDING', phase = NULL, worker = NULL, cluster = NULL, "
            "agent_job_id = NULL, restarts = restarts + ?, recoveries = recoveries + ? "
            "WHERE job_id = ? AND task_idx = ?",
            (int(restart), int(not restart), t["job_id"], t["task_idx"]),
        )
        self.conn.execute(
            "UPDATE jobs SET status = 'RECOVERING', reason = ? WHERE job_id = ?",
            (reason, t["job_id"]),
        )
        self.conn.execute("COMMIT")
        self.c.events.fire(t["job_id"], t["task_idx"], states.RECOVERING)
        self.c.crash_point(states.RECOVERING)

    def worker_lost(self, worker: str) -> None:
        """A worker's cluster is gone (preempted): requeue its jobs, replace it."""
        self.conn.execute(
            "UPDATE workers SET status = ?, reason = 'lost', created_at = ? WHERE cluster = ?",
            (states.W_FAILED, time.time(), worker),
        )
        for t in self.conn.execute(
            f"SELECT * FROM tasks WHERE worker = ? AND status IN {BUSY}", (worker,)
        ).fetchall():
            if t["status"] == states.CANCELLING:
                self.c.end_job(t["job_id"], t["task_idx"], states.CANCELLED, "cancelled")
            else:
                self.requeue(t, "recovering: pool worker lost", restart=False)
