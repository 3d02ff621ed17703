"""The agent's SQLite store on the head node: the job table and a key/value config table.

WAL mode and a busy timeout let the daemon, drivers and short client commands share it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Any, Dict, List, Optional, Tuple

from . import states

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT,
    user TEXT,
    status TEXT NOT NULL,
    submitted_at REAL NOT NULL,
    start_at REAL,
    end_at REAL,
    run_timestamp TEXT,
    num_nodes INTEGER NOT NULL DEFAULT 1,
    cpus REAL NOT NULL DEFAULT 0,
    gpus REAL NOT NULL DEFAULT 0,
    memory REAL NOT NULL DEFAULT 0,
    resources TEXT,
    has_setup INTEGER NOT NULL DEFAULT 0,
    spec TEXT,
    driver_pid INTEGER,
    driver_start TEXT,
    pgids TEXT,
    exit_codes TEXT,
    nodes TEXT,
    gpu_ids TEXT,
    log_dir TEXT,
    metadata TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
CREATE TABLE IF NOT EXISTS config (key TEXT PRIMARY KEY, value TEXT);
"""

# Columns returned by ``queue`` (never the spec).
PUBLIC_COLUMNS = (
    "job_id",
    "name",
    "user",
    "status",
    "submitted_at",
    "start_at",
    "end_at",
    "run_timestamp",
    "num_nodes",
    "cpus",
    "gpus",
    "memory",
    "resources",
    "exit_codes",
    "log_dir",
    "metadata",
    "driver_pid",
)


_MAGIC = b"SQLite format 3\0"


class Damaged(Exception):
    """The job database is damaged; the file is left as it is (it holds the queue)."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(
            "job database %s is damaged (%s); it was left as it is. To start a fresh queue "
            "(the damaged file is kept beside it), run: stix state recover" % (path, why)
        )
        self.path = path


def is_damage(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite reporting a damaged file (not a lock or a bad query)."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.DatabaseError) and (
        "malformed" in text or "file is not a database" in text
    )


def header_problem(path: "os.PathLike[str] | str") -> Optional[str]:
    """Why the file at ``path`` is not a whole SQLite database, or None when it looks whole.

    Catches what SQLite itself would take for a new, empty database (a file cut to zero
    bytes) and a file cut shorter than its header says.
    """
    try:
        st = os.stat(path)
        head = os.pread(_reader(str(path), st.st_ino), 100, 0) if st.st_size else b""
        size = st.st_size
    except OSError as exc:
        return "cannot read it: %s" % (exc.strerror or exc)
    if not head:
        return "it is empty"
    if len(head) < 100 or not head.startswith(_MAGIC):
        return "not a SQLite database"
    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page
    pages = int.from_bytes(head[28:32], "big")
    if head[24:28] == head[92:96] and pages and size < page * pages:
        return "truncated: %d bytes of %d" % (size, page * pages)
    return None


_READERS: Dict[Tuple[str, int], int] = {}


def _reader(path: str, inode: int) -> int:
    """A read-only descriptor of the file, kept open for the life of the process.

    Closing any descriptor of a database file drops every POSIX lock this process
    holds on it, including those of open SQLite connections (a documented SQLite
    hazard), so the header check never closes what it opened.
    """
    key = (path, inode)
    fd = _READERS.get(key)
    if fd is None:
        fd = _READERS[key] = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    return fd


def set_aside(path: str) -> str:
    """Move a damaged database (and its WAL files) to ``<path>.damaged-<time>``; return it."""
    copy = "%s.damaged-%s" % (path, time.strftime("%Y%m%d-%H%M%S"))
    n = 1
    while os.path.exists(copy):
        copy = "%s.damaged-%s-%d" % (path, time.strftime("%Y%m%d-%H%M%S"), n)
        n += 1
    for suffix in ("-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.rename(path + suffix, copy + suffix)
    os.rename(path, copy)
    return copy


def agent_home() -> str:
    """The agent's state directory on this node (``$STIX_AGENT_HOME`` or ``~/.stix_agent``)."""
    home = os.environ.get("STIX_AGENT_HOME") or os.path.join(os.path.expanduser("~"), ".stix_agent")
    return home


def connect(home: Optional[str] = None) -> sqlite3.Connection:
    """Open (and create on first use) the job database under ``home``."""
    home = home or agent_home()
    os.makedirs(home, exist_ok=True)
    path = os.path.join(home, "jobs.db")
    if not os.path.exists(path) and not os.path.exists(path + "-wal"):
        _create(path)
    # The file is only ever created whole (above): an empty or short one is damage,
    # which SQLite itself would take for a new, empty database.
    problem = header_problem(path)
    if problem:
        raise Damaged(path, problem)
    try:
        return _open(path)
    except sqlite3.DatabaseError as exc:
        raise Damaged(path, str(exc)) from None


def _create(path: str) -> None:
    tmp = "%s.%d-%d.new" % (path, os.getpid(), int(time.time() * 1e6))
    _open(tmp).close()
    try:
        os.link(tmp, path)  # another process created it first: keep theirs
    except FileExistsError:
        pass
    finally:
        for leftover in (tmp, tmp + "-wal", tmp + "-shm"):
            try:
                os.unlink(leftover)
            except FileNotFoundError:
                pass


def recover(home: str) -> Optional[str]:
    """Set a damaged job database aside and start an empty one; return the kept copy."""
    path = os.path.join(home, "jobs.db")
    problem = header_problem(path) if os.path.exists(path) else None
    if problem is None and os.path.exists(path):
        try:
            conn = sqlite3.connect(path, timeout=60)
            result = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
            conn.close()
            problem = None if result == "ok" else result
        except sqlite3.DatabaseError as exc:
            problem = str(exc)
    if problem is None:
        return None
    copy = set_aside(path)
    connect(home).close()
    return copy


def _open(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 60000")
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    if mode != "wal":
        conn.execute("PRAGMA journal_mode = WAL")
    # FULL: a terminal state is on disk before anyone is told the job ended.
    conn.execute("PRAGMA synchronous = FULL")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("PRAGMA user_version = %d" % SCHEMA_VERSION)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return conn


def get_config(conn: sqlite3.Connection, key: str, default: Any = None) -> Any:
    """Read one JSON value from the config table."""
    row = conn.execute("SELECT value FROM config WHERE key = ?", (key,)).fetchone()
    return default if row is None else json.loads(row[0])


def set_config(conn: sqlite3.Connection, key: str, value: Any) -> None:
    """Write one JSON value to the config table."""
    conn.execute(
        "INSERT INTO config(key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, json.dumps(value)),
    )


def job_row(conn: sqlite3.Connection, job_id: int) -> Optional[sqlite3.Row]:
    """One job row, or None."""
    return conn.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()


def public(row: sqlite3.Row) -> Dict[str, Any]:
    """The client-visible fields of a job row (JSON columns decoded)."""
    out = {k: row[k] for k in PUBLIC_COLUMNS}
    for key in ("exit_codes", "metadata"):
        out[key] = json.loads(out[key]) if out[key] else None
    return out


def set_status(
    conn: sqlite3.Connection,
    job_id: int,
    status: str,
    *,
    only_from: Optional[List[str]] = None,
    **fields: Any,
) -> bool:
    """Move a job to ``status`` unless it already ended; return whether the row changed.

    :param only_from: restrict the move to jobs currently in one of these states.
    """
    allowed = list(only_from) if only_from else list(states.NON_TERMINAL)
    sets = ["status = ?"]
    args: List[Any] = [status]
    if states.is_terminal(status) and "end_at" not in fields:
        fields["end_at"] = time.time()
    if states.is_terminal(status):
        fields["spec"] = None  # the run spec is not needed once the job is over
    for key, value in fields.items():
        sets.append("%s = ?" % key)
        args.append(json.dumps(value) if isinstance(value, (list, dict)) else value)
    marks = ",".join("?" for _ in allowed)
    args.extend([job_id, *allowed])
    cur = conn.execute(
        "UPDATE jobs SET %s WHERE job_id = ? AND status IN (%s)" % (", ".join(sets), marks),
        args,
    )
    return cur.rowcount > 0
