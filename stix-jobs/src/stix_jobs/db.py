"""The controller's state: one SQLite database (WAL) under ``$STIX_HOME/jobs`` on the controller.

Every transition is one short write transaction, made before the controller acts on it.
Job specs (which may hold secret values) live beside it in ``specs/`` (mode 0600), never in
the database. Stdlib only: the controller node's short-lived commands import this.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT,
    user TEXT,
    pool TEXT,
    priority INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    spec_id TEXT NOT NULL,
    num_tasks INTEGER NOT NULL DEFAULT 1,
    current_task INTEGER NOT NULL DEFAULT 0,
    job_rank INTEGER NOT NULL DEFAULT 0,
    num_jobs INTEGER NOT NULL DEFAULT 1,
    resources TEXT,
    submitted_at REAL NOT NULL,
    started_at REAL,
    ended_at REAL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
CREATE TABLE IF NOT EXISTS tasks (
    job_id INTEGER NOT NULL,
    task_idx INTEGER NOT NULL,
    name TEXT,
    status TEXT NOT NULL,
    phase TEXT,
    cluster TEXT,
    worker TEXT,
    agent_job_id INTEGER,
    agent_name TEXT,
    infra TEXT,
    started_at REAL,
    ended_at REAL,
    recoveries INTEGER NOT NULL DEFAULT 0,
    restarts INTEGER NOT NULL DEFAULT 0,
    attempt INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL DEFAULT 0,
    backoff REAL NOT NULL DEFAULT 0,
    silent INTEGER NOT NULL DEFAULT 0,
    exit_codes TEXT,
    PRIMARY KEY (job_id, task_idx)
);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks(status);
CREATE TABLE IF NOT EXISTS pools (
    name TEXT PRIMARY KEY,
    spec_id TEXT NOT NULL,
    workers INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS workers (
    pool TEXT NOT NULL,
    worker_id INTEGER NOT NULL,
    cluster TEXT NOT NULL,
    status TEXT NOT NULL,
    spec_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    reason TEXT,
    PRIMARY KEY (pool, worker_id)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


_home: list[Path] = []


@contextmanager
def use_home(path: Path) -> Iterator[None]:
    """Work on the controller database under ``path`` (a local controller's ``$STIX_HOME``)."""
    _home.append(path)
    try:
        yield
    finally:
        _home.pop()


def stix_home() -> Path:
    """``$STIX_HOME`` or ``~/.stix`` (the controller node's, when run there)."""
    if _home:
        return _home[-1]
    value = os.environ.get("STIX_HOME")
    return Path(value).expanduser() if value else Path.home() / ".stix"


def jobs_home() -> Path:
    """The controller's folder: database, specs, saved logs, controller log."""
    return stix_home() / "jobs"


def log_path(job_id: int, task_idx: int) -> Path:
    """Where the controller keeps the log of one task of a managed job."""
    return jobs_home() / "logs" / str(job_id) / f"task-{task_idx}.log"


def controller_log() -> Path:
    return jobs_home() / "controller.log"


def connect(path: Path | None = None) -> sqlite3.Connection:
    """Open (creating if needed) the controller database."""
    home = jobs_home()
    home.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path or home / "jobs.db"), timeout=30, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.executescript(SCHEMA)
    return conn


def write_spec(spec_id: str, docs: list[dict[str, Any]]) -> None:
    """Store the task documents of a submission (secrets included) readable by the owner only."""
    folder = jobs_home() / "specs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{spec_id}.json"
    tmp = folder / f".{spec_id}.{os.getpid()}"
    fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(docs, fh)
    os.replace(tmp, path)


def read_spec(spec_id: str) -> list[dict[str, Any]]:
    path = jobs_home() / "specs" / f"{spec_id}.json"
    with open(path) as fh:
        docs: list[dict[str, Any]] = json.load(fh)
    return docs


def insert_jobs(
    conn: sqlite3.Connection,
    *,
    spec_id: str,
    name: str | None,
    task_names: list[str | None],
    user: str,
    pool: str | None,
    priority: int,
    num_jobs: int,
    resources: str,
) -> list[int]:
    """Insert ``num_jobs`` copies of a submission (one row per job, one per task) as PENDING."""
    now = time.time()
    ids: list[int] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for rank in range(num_jobs):
            cur = conn.execute(
                "INSERT INTO jobs (name, user, pool, priority, status, spec_id, num_tasks, "
                "job_rank, num_jobs, resources, submitted_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    name,
                    user,
                    pool,
                    priority,
                    "PENDING",
                    spec_id,
                    len(task_names),
                    rank,
                    num_jobs,
                    resources,
                    now,
                ),
            )
            job_id = int(cur.lastrowid or 0)
            ids.append(job_id)
            conn.executemany(
                "INSERT INTO tasks (job_id, task_idx, name, status) VALUES (?,?,?,?)",
                [(job_id, i, n, "PENDING") for i, n in enumerate(task_names)],
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return ids


def set_meta(conn: sqlite3.Connection, key: str, value: Any) -> None:
    conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))


def get_meta(conn: sqlite3.Connection, key: str, default: Any = None) -> Any:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return json.loads(row[0]) if row else default
