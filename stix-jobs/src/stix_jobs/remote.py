"""Commands run on the controller node: ``python -m stix_jobs.remote VERB``.

The client reaches them through the controller cluster's command runner. Each prints
one JSON reply line (``logs`` streams text instead). They only read and write the
controller database and poke the controller process; the controller does the work.
Stdlib only, except ``logs`` following a live job through the STIX SDK.
"""

from __future__ import annotations

import argparse
import fcntl
import functools
import json
import os
import signal
import sys
import time
import uuid
from typing import Any

from stix_jobs import db, states

STATUS_MARK = "STIX-MANAGED-JOB-STATUS "


def controller_alive() -> bool:
    """Whether a controller process holds the controller lock."""
    path = db.jobs_home() / "controller.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops a lock we may have taken
    return False


def running(conn: Any) -> bool:
    """A controller holds the lock and has not announced that it is leaving."""
    return db.get_meta(conn, "pid") is not None and controller_alive()


def kick(conn: Any) -> None:
    """Wake the controller so it acts on a change now rather than at its next tick."""
    pid = db.get_meta(conn, "pid")
    if pid:
        try:
            os.kill(int(pid), signal.SIGUSR1)
        except (ProcessLookupError, PermissionError):
            pass


def cmd_submit(conn: Any, args: argparse.Namespace, req: dict[str, Any]) -> dict[str, Any]:
    if req.get("pool"):
        row = conn.execute("SELECT status FROM pools WHERE name = ?", (req["pool"],)).fetchone()
        if row is None or row["status"] != "READY":
            return {"error": f"pool {req['pool']!r} does not exist", "kind": "JobError"}
    spec_id = uuid.uuid4().hex
    db.write_spec(spec_id, req["docs"])
    ids = db.insert_jobs(
        conn,
        spec_id=spec_id,
        name=req.get("name"),
        task_names=req["task_names"],
        user=req.get("user") or "",
        pool=req.get("pool"),
        priority=int(req.get("priority") or 0),
        num_jobs=int(req.get("num_jobs") or 1),
        resources=req.get("resources") or "",
    )
    kick(conn)
    return {"job_ids": ids, "controller": running(conn)}


QUEUE_SQL = """
SELECT j.job_id, j.name, j.user, j.pool, j.status, j.resources, j.submitted_at, j.started_at,
       j.ended_at, j.num_tasks, j.current_task, j.reason, j.job_rank, j.num_jobs,
       t.name AS task_name, t.status AS task_status, t.infra, t.cluster, t.worker,
       COALESCE(r.recoveries, 0) AS recoveries
FROM jobs j
JOIN tasks t ON t.job_id = j.job_id AND t.task_idx = j.current_task
LEFT JOIN (SELECT job_id, SUM(recoveries) AS recoveries FROM tasks WHERE recoveries > 0
           GROUP BY job_id) r ON r.job_id = j.job_id
"""


def cmd_queue(conn: Any, args: argparse.Namespace, req: dict[str, Any]) -> dict[str, Any]:
    sql, params = QUEUE_SQL, []
    if args.job_ids:
        sql += " WHERE j.job_id IN ({})".format(",".join("?" * len(args.job_ids)))
        params.extend(args.job_ids)
    elif args.skip_finished:
        sql += " WHERE j.status IN ({})".format(",".join("?" * len(states.ACTIVE)))
        params.extend(states.ACTIVE)
    sql += " ORDER BY j.job_id DESC"
    if args.limit and not args.job_ids:
        sql += f" LIMIT {int(args.limit)}"
    rows = [dict(r) for r in conn.execute(sql, params)]
    if args.tasks and rows:
        ids = [r["job_id"] for r in rows]
        per: dict[int, list[dict[str, Any]]] = {}
        for t in conn.execute(
            "SELECT job_id, task_idx, name, status, infra, recoveries, restarts, started_at, "
            "ended_at, exit_codes FROM tasks WHERE job_id IN ({}) ORDER BY task_idx".format(
                ",".join("?" * len(ids))
            ),
            ids,
        ):
            per.setdefault(t["job_id"], []).append(dict(t))
        for r in rows:
            r["tasks"] = per.get(r["job_id"], [])
    return {"jobs": rows, "controller": controller_alive()}


def cmd_cancel(conn: Any, args: argparse.Namespace, req: dict[str, Any]) -> dict[str, Any]:
    where, params = [], []
    if args.job_ids:
        where.append("job_id IN ({})".format(",".join("?" * len(args.job_ids))))
        params.extend(args.job_ids)
    if args.name:
        where.append("name = ?")
        params.append(args.name)
    if args.pool:
        where.append("pool = ?")
        params.append(args.pool)
    if not where and not args.all:
        return {"error": "name the jobs to cancel (ids, --name, --pool or --all)"}
    active = "status IN ({})".format(",".join("?" * len(states.ACTIVE)))
    cond = " AND ".join([*where, active])
    params.extend(states.ACTIVE)
    conn.execute("BEGIN IMMEDIATE")
    ids = [r[0] for r in conn.execute(f"SELECT job_id FROM jobs WHERE {cond}", params)]
    conn.execute(f"UPDATE jobs SET cancel_requested = 1 WHERE {cond}", params)
    # A job nobody has started yet ends here; the controller never picks it up.
    now = time.time()
    conn.execute(
        f"UPDATE jobs SET status = 'CANCELLED', ended_at = ? WHERE {cond} AND status = 'PENDING' "
        "AND current_task = 0",
        [now, *params],
    )
    conn.execute(
        "UPDATE tasks SET status = 'CANCELLED', ended_at = ? WHERE status = 'PENDING' AND "
        "job_id IN (SELECT job_id FROM jobs WHERE status = 'CANCELLED' AND cancel_requested = 1)",
        (now,),
    )
    conn.execute("COMMIT")
    kick(conn)
    return {"cancelled": ids}


def _print_file(path: Any, offset: int = 0) -> int:
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except OSError:
        return offset
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return offset + len(data)


def _follow_live(row: Any) -> bool:
    """Stream the running attempt's log from its cluster; False when it cannot be reached."""
    try:
        from stix.errors import StixError
        from stix.sdk import tail_logs
    except ImportError:
        return False
    cluster = row["worker"] or row["cluster"]

    def write(chunk: bytes) -> None:
        sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()

    try:
        tail_logs(cluster, int(row["agent_job_id"]), follow=True, write=write)
    except (StixError, OSError):
        return False
    return True


def cmd_logs(conn: Any, args: argparse.Namespace, req: dict[str, Any]) -> dict[str, Any] | None:
    if args.controller:
        _print_file(db.controller_log())
        return None
    if args.job_id is None:
        row = conn.execute("SELECT MAX(job_id) FROM jobs").fetchone()
        if row[0] is None:
            return {"error": "there are no managed jobs", "kind": "JobError"}
        args.job_id = int(row[0])
    job = conn.execute("SELECT * FROM jobs WHERE job_id = ?", (args.job_id,)).fetchone()
    if job is None:
        return {"error": f"managed job {args.job_id} does not exist", "kind": "JobError"}
    offsets: dict[int, int] = {}
    streamed: set[tuple[int, int]] = set()
    while True:
        job = conn.execute("SELECT * FROM jobs WHERE job_id = ?", (args.job_id,)).fetchone()
        done = states.is_terminal(job["status"]) or not args.follow
        for idx in range(job["current_task"] + (1 if done else 0)):
            if idx < job["num_tasks"]:
                offsets[idx] = _print_file(db.log_path(args.job_id, idx), offsets.get(idx, 0))
        if done:
            sys.stderr.write(STATUS_MARK + json.dumps({"status": job["status"]}) + "\n")
            return None
        idx = job["current_task"]
        offsets[idx] = _print_file(db.log_path(args.job_id, idx), offsets.get(idx, 0))
        task = conn.execute(
            "SELECT * FROM tasks WHERE job_id = ? AND task_idx = ?", (args.job_id, idx)
        ).fetchone()
        key = (idx, task["attempt"])
        if (
            task["status"] == states.RUNNING
            and task["agent_job_id"] is not None
            and key not in streamed
            and _follow_live(task)
        ):
            streamed.add(key)
            # the controller saves this attempt's log too: do not print it a second time
            offsets[idx] = _wait_saved(args.job_id, idx, task["attempt"], offsets[idx], conn)
            continue
        time.sleep(0.5)


def _wait_saved(job_id: int, idx: int, attempt: int, offset: int, conn: Any) -> int:
    """Skip the copy of an attempt's log that was just streamed live, once it is saved."""
    marker = db.log_path(job_id, idx).with_suffix(f".{attempt}.saved")
    deadline = time.time() + 60
    while time.time() < deadline and not marker.exists():
        row = conn.execute("SELECT status FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        if states.is_terminal(row["status"]) and not marker.exists():
            break
        time.sleep(0.3)
    try:
        return int(marker.read_text())
    except (OSError, ValueError):
        return offset


def cmd_ping(conn: Any, args: argparse.Namespace, req: dict[str, Any]) -> dict[str, Any]:
    return {"alive": running(conn), "pid": db.get_meta(conn, "pid")}


def cmd_pool_apply(conn: Any, args: argparse.Namespace, req: dict[str, Any]) -> dict[str, Any]:
    spec_id = uuid.uuid4().hex
    db.write_spec(spec_id, req["docs"])
    conn.execute(
        "INSERT INTO pools (name, spec_id, workers, status, created_at) VALUES (?,?,?,?,?) "
        "ON CONFLICT(name) DO UPDATE SET spec_id = excluded.spec_id, "
        "workers = excluded.workers, status = 'READY'",
        (req["name"], spec_id, int(req["workers"]), "READY", time.time()),
    )
    kick(conn)
    return {"pool": req["name"], "workers": int(req["workers"]), "controller": running(conn)}


def cmd_pool_status(conn: Any, args: argparse.Namespace, req: dict[str, Any]) -> dict[str, Any]:
    pools = []
    for p in conn.execute("SELECT * FROM pools ORDER BY name"):
        if args.names and p["name"] not in args.names:
            continue
        workers = [
            dict(w)
            for w in conn.execute(
                "SELECT w.*, (SELECT COUNT(*) FROM tasks t WHERE t.worker = w.cluster AND "
                "t.status IN ('STARTING', 'RUNNING')) AS busy FROM workers w WHERE pool = ? "
                "ORDER BY worker_id",
                (p["name"],),
            )
        ]
        pools.append({**dict(p), "worker_list": workers})
    return {"pools": pools}


def cmd_pool_down(conn: Any, args: argparse.Namespace, req: dict[str, Any]) -> dict[str, Any]:
    names = [r[0] for r in conn.execute("SELECT name FROM pools")]
    chosen = names if args.all else [n for n in args.names if n in names]
    missing = [n for n in args.names if n not in names]
    if missing and not args.all:
        return {"error": f"pool {missing[0]!r} does not exist", "kind": "JobError"}
    for name in chosen:
        conn.execute("UPDATE pools SET status = 'SHUTTING_DOWN' WHERE name = ?", (name,))
    kick(conn)
    return {"down": chosen}


WITH_REQUEST = ("submit", "pool-apply")
VERBS = {
    "submit": cmd_submit,
    "queue": cmd_queue,
    "cancel": cmd_cancel,
    "logs": cmd_logs,
    "ping": cmd_ping,
    "pool-apply": cmd_pool_apply,
    "pool-status": cmd_pool_status,
    "pool-down": cmd_pool_down,
}


@functools.lru_cache(maxsize=1)
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stix_jobs.remote")
    sub = p.add_subparsers(dest="verb", required=True)
    sub.add_parser("submit")
    sub.add_parser("ping")
    sub.add_parser("pool-apply")
    q = sub.add_parser("queue")
    q.add_argument("job_ids", nargs="*", type=int)
    q.add_argument("--skip-finished", action="store_true")
    q.add_argument("--limit", type=int, default=0)
    q.add_argument("--tasks", action="store_true")
    c = sub.add_parser("cancel")
    c.add_argument("job_ids", nargs="*", type=int)
    c.add_argument("--name")
    c.add_argument("--pool")
    c.add_argument("--all", action="store_true")
    lg = sub.add_parser("logs")
    lg.add_argument("job_id", nargs="?", type=int)
    lg.add_argument("--no-follow", dest="follow", action="store_false")
    lg.add_argument("--controller", action="store_true")
    ps = sub.add_parser("pool-status")
    ps.add_argument("names", nargs="*")
    pd = sub.add_parser("pool-down")
    pd.add_argument("names", nargs="*")
    pd.add_argument("--all", action="store_true")
    return p


def dispatch(
    argv: list[str], request: dict[str, Any] | None = None, conn: Any = None
) -> dict[str, Any] | None:
    """Run one verb against this controller's database; the JSON-able reply.

    :param conn: an open connection to reuse (a client making many calls); else one is
        opened and closed here.
    """
    args = parser().parse_args(argv)
    own = conn is None
    conn = db.connect() if own else conn
    try:
        return VERBS[args.verb](conn, args, request or {})
    finally:
        if own:
            conn.close()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    request = json.loads(sys.stdin.read() or "{}") if args.verb in WITH_REQUEST else {}
    reply = dispatch(sys.argv[1:] if argv is None else argv, request)
    if reply is None:
        return 0
    out = sys.stderr if args.verb == "logs" else sys.stdout
    out.write(json.dumps(reply) + "\n")
    return 3 if "error" in reply else 0


if __name__ == "__main__":
    sys.exit(main())
