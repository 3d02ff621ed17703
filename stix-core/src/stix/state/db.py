"""Opening the state database: WAL, busy timeout, versioned migrations."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stix.agent.db import header_problem, is_damage
from stix.errors import StateError

if TYPE_CHECKING:
    import sqlite_utils

BUSY_TIMEOUT_S = 60.0


def _import_sqlite_utils() -> None:
    # sqlite-utils probes for numpy at import time; that probe costs ~100 ms when numpy is
    # installed and STIX never hands it numpy values, so skip it unless numpy is loaded.
    if "sqlite_utils" in sys.modules:
        return
    hide = "numpy" not in sys.modules
    if hide:
        sys.modules["numpy"] = None  # type: ignore[assignment]
    try:
        import sqlite_utils  # noqa: F401
    finally:
        if hide:
            del sys.modules["numpy"]


def _v1(db: sqlite_utils.Database) -> None:
    db["clusters"].create(  # type: ignore[union-attr]
        {
            "name": str,
            "status": str,
            "cloud": str,
            "region": str,
            "zone": str,
            "instance_type": str,
            "num_nodes": int,
            "use_spot": int,
            "resources": str,
            "launched_resources": str,
            "handle": str,
            "launched_at": float,
            "status_updated_at": float,
            "autostop_minutes": float,
            "autostop_down": int,
            "hourly_price": float,
            "user": str,
            "setup_hash": str,
            "last_command": str,
            "history_id": int,
        },
        pk="name",
        not_null={"status"},
    )
    db["cluster_history"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "name": str,
            "cluster_name_on_cloud": str,
            "cloud": str,
            "region": str,
            "zone": str,
            "resources": str,
            "num_nodes": int,
            "hourly_price": float,
            "launched_at": float,
            "terminated_at": float,
            "intervals": str,
            "status": str,
            "user": str,
        },
        pk="id",
    )
    db["jobs"].create(  # type: ignore[union-attr]
        {
            "cluster": str,
            "job_id": int,
            "name": str,
            "status": str,
            "submitted_at": float,
            "start_at": float,
            "end_at": float,
            "resources": str,
            "exit_codes": str,
            "user": str,
        },
        pk=("cluster", "job_id"),
    )


def _v2(db: sqlite_utils.Database) -> None:
    db["storage"].create(  # type: ignore[union-attr]
        {
            "name": str,
            "store": str,
            "source": str,
            "region": str,
            "created_at": float,
            "updated_at": float,
            "status": str,
            "clusters": str,
            "persistent": int,
            "managed": int,
        },
        pk="name",
        not_null={"status", "store"},
    )


# Append only: migration N brings the schema from version N-1 to N.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2]


def state_path() -> Path:
    """``$STIX_HOME/state.db``."""
    from stix.config import stix_home

    return stix_home() / "state.db"


_DAMAGED: set[str] = set()  # state files found damaged in this process: never used again


def forget_damage(path: Path) -> None:
    """Let this process open ``path`` again (after the damaged file was moved aside)."""
    _DAMAGED.discard(str(path))


class _Cursor(sqlite3.Cursor):
    """A cursor whose damage errors become the state's one-line :class:`StateError`."""

    connection: StateConnection

    def execute(self, sql: str, parameters: Any = ()) -> _Cursor:
        with self.connection.guard(sql):
            super().execute(sql, parameters)
        return self

    def executemany(self, sql: str, seq: Any) -> _Cursor:
        with self.connection.guard(sql):
            super().executemany(sql, seq)
        return self

    def fetchone(self) -> Any:
        with self.connection.guard():
            return super().fetchone()

    def fetchmany(self, size: int | None = None) -> list[Any]:
        with self.connection.guard():
            return super().fetchmany(self.arraysize if size is None else size)

    def fetchall(self) -> list[Any]:
        with self.connection.guard():
            return super().fetchall()

    def __next__(self) -> Any:
        with self.connection.guard():
            return super().__next__()


class StateConnection(sqlite3.Connection):
    """The state database's connection: damage met in any query (not only at open) stops
    with one line naming the file and ``stix state recover``, and nothing is written to
    the file afterwards (every later statement but ``ROLLBACK`` is refused)."""

    path = Path()
    why = ""

    @contextmanager
    def guard(self, sql: str = "") -> Iterator[None]:
        """Turn a damage error raised inside into :func:`damaged`; refuse a damaged file."""
        if str(self.path) in _DAMAGED and not sql.lstrip().upper().startswith("ROLLBACK"):
            raise damaged(self.path, self.why or "found damaged earlier")
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            self.why = str(exc)
            _DAMAGED.add(str(self.path))
            raise damaged(self.path, str(exc)) from None

    def cursor(self, factory: Any = None) -> _Cursor:  # type: ignore[override]
        return super().cursor(factory or _Cursor)

    def execute(self, sql: str, parameters: Any = ()) -> _Cursor:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, seq: Any) -> _Cursor:
        return self.cursor().executemany(sql, seq)

    def executescript(self, script: str) -> sqlite3.Cursor:
        with self.guard(script):
            return super().executescript(script)

    def commit(self) -> None:
        with self.guard("COMMIT"):
            super().commit()


def _raw_connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, factory=StateConnection
    )
    conn.path = path
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


RECOVER_HINT = "run: stix state recover (it keeps a copy of the damaged file)"


def damaged(path: Path, why: str) -> StateError:
    """The one-line error for a damaged state file."""
    return StateError(f"{path} is damaged ({why}); {RECOVER_HINT}", path=str(path))


def _create(path: Path) -> None:
    """Create a complete, migrated database at ``path`` atomically (never a half-made one).

    A state file that exists is then always one STIX finished writing: an empty or
    truncated one is damage, not a new database.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.new")
    conn = _raw_connect(tmp)
    try:
        _migrate(conn)
    finally:
        conn.close()
    try:
        os.link(tmp, path)  # fails when another process created it first: use theirs
    except FileExistsError:
        pass
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def _migrate(conn: sqlite3.Connection) -> None:
    if conn.execute("PRAGMA user_version").fetchone()[0] >= len(MIGRATIONS):
        return
    _import_sqlite_utils()
    import sqlite_utils

    db = sqlite_utils.Database(conn)
    with write(conn):
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for number, migrate in enumerate(MIGRATIONS[version:], start=version + 1):
            migrate(db)
            conn.execute(f"PRAGMA user_version = {number}")


def connect(path: Path | None = None) -> sqlite3.Connection:
    """Open the state database (rows as ``sqlite3.Row``), migrating it first when needed.

    Migrations run through sqlite-utils under an exclusive write lock; an up-to-date
    database is opened with the standard library only, which keeps ``stix status`` fast.
    A leftover write-ahead log (a crash, or another process using the file) makes the
    open run ``PRAGMA quick_check`` first.

    :raises StateError: the file is damaged (naming it and ``stix state recover``); a
        damaged file is never written to.
    """
    path = path or state_path()
    if str(path) in _DAMAGED:
        raise damaged(path, "found damaged earlier")
    wal = Path(f"{path}-wal")
    if not path.exists() and not wal.exists():
        _create(path)
    problem = header_problem(path)
    if problem:
        raise damaged(path, problem)
    try:
        conn = _raw_connect(path)
        conn.row_factory = sqlite3.Row
        if wal.exists() and wal.stat().st_size > 0:
            result = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
            if result != "ok":
                conn.close()
                raise damaged(path, f"quick_check: {result}")
        _migrate(conn)
    except sqlite3.DatabaseError as exc:
        _DAMAGED.add(str(path))
        raise damaged(path, str(exc)) from None
    return conn


def replace_row(conn: sqlite3.Connection, table: str, row: dict[str, Any]) -> None:
    """Insert ``row`` into ``table``, replacing the row with the same primary key."""
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    conn.execute(f"INSERT OR REPLACE INTO {table} ({cols}) VALUES ({marks})", list(row.values()))


@contextmanager
def write(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction that takes the lock up front (no deadlocks between writers)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
