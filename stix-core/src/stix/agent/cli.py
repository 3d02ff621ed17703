"""The agent's command line: ``python3 agent.pyz <subcommand> ...``, JSON replies on stdout.

Subcommands: init, start-daemon, daemon, submit, queue, status, cancel, logs,
set-autostop, get-autostop, health, shutdown, recover-db. Errors print
``{"error": message, "kind": "job" | "cluster"}`` and exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import sys
import time
from typing import Any, Dict, List, Optional

from . import PROTOCOL_VERSION, contain, db, nodes, scheduler, secrets, states, wake

JOB = "job"
CLUSTER = "cluster"


class AgentError(Exception):
    """A request the agent refuses; reported as ``{"error": message, "kind": kind}``.

    ``kind`` is ``"job"`` when the request names a job that is missing or cannot run,
    ``"cluster"`` for anything else; the client maps it to its error classes.
    """

    def __init__(self, message: str, kind: str = CLUSTER) -> None:
        super().__init__(message)
        self.kind = kind


def _self_argv() -> List[str]:
    """How to run this agent again (for spawning the daemon)."""
    if __package__ == "stix_agent":
        return [sys.executable, "-S", sys.argv[0]]
    return [sys.executable, "-m", "stix.agent"]


def _out(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _read_stdin_json() -> Any:
    data = sys.stdin.read()
    if not data.strip():
        raise AgentError("expected a JSON document on stdin")
    return json.loads(data)


def _safe_name(name: Optional[str]) -> str:
    text = "".join(c if c.isalnum() or c in "-_." else "-" for c in (name or "task"))
    return text[:60] or "task"


def _run_timestamp(now: float) -> str:
    frac = int((now % 1) * 1_000_000)
    return "sky-%s-%06d" % (time.strftime("%Y-%m-%d-%H-%M-%S", time.localtime(now)), frac)


def cmd_init(home: str, args: argparse.Namespace) -> Dict[str, Any]:
    info = _read_stdin_json()
    autostop_env = info.pop("autostop_env", None) or {}
    nodes.save_cluster(home, info)
    if autostop_env:
        secrets.save(home, secrets.AUTOSTOP, {str(k): str(v) for k, v in autostop_env.items()})
    else:
        secrets.forget(home, secrets.AUTOSTOP)
    conn = db.connect(home)
    db.set_config(conn, "shut_down", None)
    conn.close()
    pid = None
    if not args.no_daemon:
        from . import daemon

        pid = daemon.spawn(home, _self_argv())
    return {"ok": True, "daemon_pid": pid, "version": PROTOCOL_VERSION}


def cmd_start_daemon(home: str, args: argparse.Namespace) -> Dict[str, Any]:
    from . import daemon

    db.set_config(db.connect(home), "shut_down", None)
    return {"daemon_pid": daemon.spawn(home, _self_argv())}


def cmd_daemon(home: str, args: argparse.Namespace) -> None:
    from . import daemon

    daemon.run(home)


def submit_specs(home: str, specs: List[Dict[str, Any]]) -> List[int]:
    """Queue ``specs`` (one transaction) and wake the daemon; return the new job ids."""
    cluster = nodes.load_cluster(home)
    conn = db.connect(home)
    rows = []
    for spec in specs:
        res = spec.get("resources") or {}
        num_nodes = int(spec.get("num_nodes") or 1)
        cpus = float(res.get("cpus", 0.5) or 0)
        gpus = float(res.get("gpus", 0) or 0)
        memory = float(res.get("memory", 0) or 0)
        if not nodes.fits_at_all(cluster["nodes"], num_nodes, cpus, gpus, memory):
            head = cluster["nodes"][0]
            raise AgentError(
                "the job needs %d node(s) with %g CPUs, %g GPUs, %g GB memory each; the cluster "
                "has %d node(s) with %g CPUs, %g GPUs, %g GB memory: the cluster cannot fit it"
                % (
                    num_nodes,
                    cpus,
                    gpus,
                    memory,
                    len(cluster["nodes"]),
                    float(head["cpus"]),
                    float(head.get("gpus", len(head.get("gpu_ids") or []))),
                    float(head.get("memory") or 0),
                ),
                JOB,
            )
        spec = dict(spec)
        hidden = spec.pop("secrets", None) or {}
        rows.append((spec, hidden, num_nodes, cpus, gpus, memory, res.get("display")))
    base = os.path.join(os.path.expanduser("~"), "sky_logs")
    ids: List[int] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for spec, hidden, num_nodes, cpus, gpus, memory, display in rows:
            now = time.time()
            cur = conn.execute(
                "INSERT INTO jobs (name, user, status, submitted_at, run_timestamp, num_nodes, "
                "cpus, gpus, memory, resources, has_setup, spec, metadata) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    spec.get("name"),
                    spec.get("user") or os.environ.get("USER", ""),
                    states.PENDING,
                    now,
                    spec.get("run_timestamp") or _run_timestamp(now),
                    num_nodes,
                    cpus,
                    gpus,
                    memory,
                    display,
                    1 if spec.get("setup") else 0,
                    json.dumps(spec),
                    json.dumps(spec.get("metadata") or {}),
                ),
            )
            job_id = int(cur.lastrowid or 0)
            log_dir = os.path.join(base, "%d-%s" % (job_id, _safe_name(spec.get("name"))))
            conn.execute("UPDATE jobs SET log_dir = ? WHERE job_id = ?", (log_dir, job_id))
            if hidden:
                secrets.save(home, job_id, hidden)
            ids.append(job_id)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    wake.poke(home)
    return ids


def cmd_submit(home: str, args: argparse.Namespace) -> Optional[Dict[str, Any]]:
    doc = _read_stdin_json()
    specs = doc["jobs"] if isinstance(doc, dict) and "jobs" in doc else [doc]
    ids = submit_specs(home, specs)
    from . import daemon

    if daemon.daemon_pid(home) is None:  # self-heal: queued jobs need a scheduler
        daemon.spawn(home, _self_argv())
    if not args.follow:
        return {"job_ids": ids}
    from . import logs

    _out({"job_ids": ids})  # first line; the log of the last job follows
    logs.stream(home, ids[-1], follow=True)
    return None


def _refresh(home: str) -> Any:
    """The job database after a driver health check; restarts a dead daemon with work left."""
    conn = db.connect(home)
    try:
        scheduler.check_drivers(conn, nodes.load_cluster(home))
    except FileNotFoundError:
        return conn
    heal_daemon(home, conn)
    return conn


def heal_daemon(home: str, conn: Any) -> None:
    """Start the daemon again when it died (``kill -9``) while jobs still wait for it."""
    from . import daemon

    marks = ",".join("?" for _ in states.NON_TERMINAL)
    waiting = conn.execute(
        "SELECT 1 FROM jobs WHERE status IN (%s) LIMIT 1" % marks, states.NON_TERMINAL
    ).fetchone()
    if waiting and not db.get_config(conn, "shut_down") and daemon.daemon_pid(home) is None:
        daemon.spawn(home, _self_argv())


def cmd_queue(home: str, args: argparse.Namespace) -> Dict[str, Any]:
    conn = _refresh(home)
    sql = "SELECT * FROM jobs"
    params: List[Any] = []
    where = []
    if args.skip_finished:
        where.append("status IN (%s)" % ",".join("?" for _ in states.NON_TERMINAL))
        params.extend(states.NON_TERMINAL)
    if args.job_ids:
        where.append("job_id IN (%s)" % ",".join("?" for _ in args.job_ids))
        params.extend(args.job_ids)
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY job_id DESC"
    return {"jobs": [db.public(r) for r in conn.execute(sql, params)]}


def cmd_status(home: str, args: argparse.Namespace) -> Dict[str, Any]:
    conn = _refresh(home)
    out: Dict[str, Any] = {}
    for job_id in args.job_ids:
        row = conn.execute("SELECT status FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        out[str(job_id)] = row["status"] if row else None
    return {"statuses": out}


def cancel_jobs(home: str, job_ids: List[int], all_jobs: bool = False) -> List[int]:
    """Cancel jobs: pending ones never start; running ones lose their whole process groups."""
    conn = _refresh(home)
    cluster = nodes.load_cluster(home)
    marks = ",".join("?" for _ in states.NON_TERMINAL)
    if all_jobs:
        rows = conn.execute(
            "SELECT job_id FROM jobs WHERE status IN (%s) ORDER BY job_id" % marks,
            states.NON_TERMINAL,
        ).fetchall()
        job_ids = [r["job_id"] for r in rows]
    done: List[int] = []
    victims = []
    for job_id in sorted(set(job_ids)):
        row = db.job_row(conn, job_id)
        if row is None:
            raise AgentError("job %d does not exist" % job_id, JOB)
        if db.set_status(conn, job_id, states.CANCELLED):
            done.append(job_id)
            victims.append(job_id)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for job_id in victims:
            row = db.job_row(conn, job_id)
            if row is None:
                continue
            if row["driver_pid"]:
                if sig == signal.SIGKILL:  # what re-parented to the driver goes first
                    contain.kill_descendants(row["driver_pid"])
                try:
                    os.killpg(row["driver_pid"], sig)
                except (ProcessLookupError, PermissionError):
                    pass
            scheduler.kill_ranks(cluster, row["pgids"], sig)
        if sig == signal.SIGTERM and victims:
            deadline = time.time() + 2
            while time.time() < deadline and _any_alive(conn, victims):
                time.sleep(0.05)
    wake.poke(home)
    return done


def _any_alive(conn: Any, job_ids: List[int]) -> bool:
    for job_id in job_ids:
        row = db.job_row(conn, job_id)
        for _index, pgid, _key in json.loads((row["pgids"] if row else None) or "[]"):
            if nodes.pgid_alive(pgid):
                return True
    return False


def cmd_cancel(home: str, args: argparse.Namespace) -> Dict[str, Any]:
    if not args.job_ids and not args.all:
        raise AgentError("name job ids to cancel, or pass --all", JOB)
    return {"cancelled": cancel_jobs(home, args.job_ids, args.all)}


def cmd_set_autostop(home: str, args: argparse.Namespace) -> Dict[str, Any]:
    conn = db.connect(home)
    seconds = -1.0 if args.cancel else float(args.idle_seconds)
    value = {"idle_seconds": seconds, "down": bool(args.down), "set_at": time.time()}
    db.set_config(conn, "autostop", value)
    db.set_config(conn, "autostop_fired", None)
    wake.poke(home)
    return {"autostop": value}


def cmd_get_autostop(home: str, args: argparse.Namespace) -> Dict[str, Any]:
    from . import daemon

    conn = db.connect(home)
    return {
        "autostop": db.get_config(conn, "autostop"),
        "fired": db.get_config(conn, "autostop_fired"),
        "idle_since": daemon.idle_since(conn),
    }


def cmd_health(home: str, args: argparse.Namespace) -> Dict[str, Any]:
    from . import daemon

    conn = _refresh(home)
    counts = {r[0]: r[1] for r in conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status")}
    return {
        "ok": True,
        "version": PROTOCOL_VERSION,
        "daemon_pid": daemon.daemon_pid(home),
        "jobs": counts,
    }


def cmd_shutdown(home: str, args: argparse.Namespace) -> Dict[str, Any]:
    """Stop the daemon and every job process (before the node is stopped)."""
    from . import daemon

    db.set_config(db.connect(home), "shut_down", time.time())  # no self-healing restart
    pid = daemon.daemon_pid(home)
    if pid:
        try:
            os.kill(pid, signal.SIGSTOP)  # no new driver while its children go
        except ProcessLookupError:
            pass
        contain.kill_descendants(pid)  # drivers, ranks, and orphans of finished jobs
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    conn = db.connect(home)
    cluster = nodes.load_cluster(home)
    rows = conn.execute(
        "SELECT job_id, driver_pid, pgids FROM jobs WHERE status IN (?, ?)", states.ACTIVE
    ).fetchall()
    for row in rows:
        if row["driver_pid"]:
            try:
                os.killpg(row["driver_pid"], signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        scheduler.kill_ranks(cluster, row["pgids"])
        db.set_status(conn, row["job_id"], states.FAILED_DRIVER)
    return {"ok": True, "stopped_daemon": pid}


def cmd_recover_db(home: str, args: argparse.Namespace) -> Dict[str, Any]:
    """Set a damaged job database aside (kept) and start an empty queue."""
    from . import daemon

    kept = db.recover(home)
    if kept is not None:
        pid = daemon.daemon_pid(home)
        if pid:  # it still holds the damaged file open: a new one opens the fresh queue
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            deadline = time.time() + 10
            while daemon.daemon_pid(home) and time.time() < deadline:
                time.sleep(0.05)
        daemon.spawn(home, _self_argv())
    return {"kept": kept}


def cmd_logs(home: str, args: argparse.Namespace) -> None:
    from . import logs

    _refresh(home).close()
    logs.stream(home, args.job_id, follow=args.follow, tail=args.tail)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stix-agent")
    parser.add_argument("--home", default=None, help="agent state directory")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("init")
    p.add_argument("--no-daemon", action="store_true")
    sub.add_parser("start-daemon")
    sub.add_parser("daemon")
    p = sub.add_parser("submit")
    p.add_argument("--follow", action="store_true", help="then stream the last job's log")
    p = sub.add_parser("queue")
    p.add_argument("--skip-finished", "-s", action="store_true")
    p.add_argument("job_ids", nargs="*", type=int)
    p = sub.add_parser("status")
    p.add_argument("job_ids", nargs="+", type=int)
    p = sub.add_parser("cancel")
    p.add_argument("--all", action="store_true")
    p.add_argument("job_ids", nargs="*", type=int)
    p = sub.add_parser("logs")
    p.add_argument("job_id", nargs="?", type=int)
    p.add_argument("--follow", action="store_true")
    p.add_argument("--tail", type=int, default=0)
    p = sub.add_parser("set-autostop")
    p.add_argument("--idle-seconds", type=float, default=300.0)
    p.add_argument("--down", action="store_true")
    p.add_argument("--cancel", action="store_true")
    sub.add_parser("get-autostop")
    sub.add_parser("health")
    sub.add_parser("shutdown")
    sub.add_parser("recover-db")
    return parser


_HANDLERS = {
    "init": cmd_init,
    "start-daemon": cmd_start_daemon,
    "daemon": cmd_daemon,
    "submit": cmd_submit,
    "queue": cmd_queue,
    "status": cmd_status,
    "cancel": cmd_cancel,
    "logs": cmd_logs,
    "set-autostop": cmd_set_autostop,
    "get-autostop": cmd_get_autostop,
    "health": cmd_health,
    "shutdown": cmd_shutdown,
    "recover-db": cmd_recover_db,
}


def main(argv: Optional[List[str]] = None) -> int:
    """Run one agent subcommand; return the process exit code."""
    args = _parser().parse_args(argv)
    home = args.home or db.agent_home()
    if args.home:
        os.environ["STIX_AGENT_HOME"] = home
    try:
        result = _HANDLERS[args.command](home, args)
    except AgentError as exc:
        _out({"error": str(exc), "kind": exc.kind})
        return 2
    except FileNotFoundError as exc:
        _out({"error": "agent not initialised on this node (%s)" % exc.filename, "kind": CLUSTER})
        return 2
    except db.Damaged as exc:
        _out({"error": str(exc), "kind": CLUSTER})
        return 2
    except sqlite3.DatabaseError as exc:  # damage met mid-query, after a clean open
        if not db.is_damage(exc):
            raise
        _out({"error": str(db.Damaged(os.path.join(home, "jobs.db"), str(exc))), "kind": CLUSTER})
        return 2
    if result is not None:
        _out(result)
    return 0
