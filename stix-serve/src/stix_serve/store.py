"""The serve controller's state: services, their versions and replicas, in SQLite.

Lives on the controller node under ``$STIX_HOME/serve/``. Every transition is written
here before the controller acts on it, so a restarted controller resumes where it was.
A version's full task (secrets included) is kept in a private file next to the database,
never in the database itself.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import yaml

SCHEMA = """
CREATE TABLE IF NOT EXISTS services (
    name TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    version INTEGER NOT NULL,
    update_mode TEXT NOT NULL DEFAULT 'rolling',
    lb_host TEXT NOT NULL,
    lb_port INTEGER NOT NULL,
    endpoint TEXT NOT NULL,
    tls TEXT,
    down_requested INTEGER NOT NULL DEFAULT 0,
    purge INTEGER NOT NULL DEFAULT 0,
    next_replica_id INTEGER NOT NULL DEFAULT 1,
    message TEXT
);
CREATE TABLE IF NOT EXISTS versions (
    service TEXT NOT NULL,
    version INTEGER NOT NULL,
    spec TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (service, version)
);
CREATE TABLE IF NOT EXISTS replicas (
    service TEXT NOT NULL,
    replica_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    cluster TEXT NOT NULL,
    status TEXT NOT NULL,
    use_spot INTEGER NOT NULL DEFAULT 0,
    url TEXT,
    infra TEXT,
    created_at REAL NOT NULL,
    status_at REAL NOT NULL,
    ready_at REAL,
    message TEXT,
    PRIMARY KEY (service, replica_id)
);
"""


def serve_home() -> Path:
    """``$STIX_HOME/serve`` on the node that runs the controller."""
    from stix.config import stix_home

    return stix_home() / "serve"


class ServeStore:
    """Access to the controller's database; safe to open from many processes."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or serve_home()
        self.root.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.root / "services.db", timeout=30, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA busy_timeout=30000")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # services -------------------------------------------------------------

    def service(self, name: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM services WHERE name = ?", (name,)).fetchone()
        return dict(row) if row is not None else None

    def services(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM services ORDER BY created_at").fetchall()
        return [dict(r) for r in rows]

    def add_service(
        self, name: str, *, host: str, port: int, endpoint: str, tls: dict[str, str] | None
    ) -> None:
        self.db.execute(
            "INSERT INTO services (name, status, created_at, version, lb_host, lb_port, endpoint,"
            " tls) VALUES (?, 'CONTROLLER_INIT', ?, 0, ?, ?, ?, ?)",
            (name, time.time(), host, port, endpoint, json.dumps(tls) if tls else None),
        )

    def update_service(self, name: str, **fields: Any) -> None:
        if not fields:
            return
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute(f"UPDATE services SET {sets} WHERE name = ?", (*fields.values(), name))

    def remove_service(self, name: str) -> None:
        with self.db:
            self.db.execute("DELETE FROM replicas WHERE service = ?", (name,))
            self.db.execute("DELETE FROM versions WHERE service = ?", (name,))
            self.db.execute("DELETE FROM services WHERE name = ?", (name,))
        folder = self.root / "tasks" / name
        for path in folder.glob("*") if folder.is_dir() else ():
            path.unlink(missing_ok=True)

    def used_ports(self) -> set[int]:
        return {int(r[0]) for r in self.db.execute("SELECT lb_port FROM services")}

    # versions -------------------------------------------------------------

    def add_version(
        self, name: str, task: dict[str, Any], spec: dict[str, Any], mode: str | None = None
    ) -> int:
        """Record a new version: ``task`` goes to a private file, ``spec`` (the ``service``
        block and a redacted copy of the task) into the database."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            row = self.db.execute("SELECT version FROM services WHERE name = ?", (name,)).fetchone()
            version = int(row[0]) + 1
            path = self.task_path(name, version)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                yaml.safe_dump(task, fh, sort_keys=False)
            self.db.execute(
                "INSERT INTO versions (service, version, spec, created_at) VALUES (?, ?, ?, ?)",
                (name, version, json.dumps(spec), time.time()),
            )
            changes = "version = ?" + (", update_mode = ?" if mode else "")
            args: tuple[Any, ...] = (version, mode) if mode else (version,)
            self.db.execute(f"UPDATE services SET {changes} WHERE name = ?", (*args, name))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return version

    def task_path(self, name: str, version: int) -> Path:
        return self.root / "tasks" / name / f"v{version}.yaml"

    def task(self, name: str, version: int) -> dict[str, Any]:
        """The full task of a version (what replicas are launched with)."""
        data = yaml.safe_load(self.task_path(name, version).read_text())
        assert isinstance(data, dict)
        return data

    def spec(self, name: str, version: int) -> dict[str, Any]:
        """The ``service:`` block and redacted task of a version, as recorded."""
        row = self.db.execute(
            "SELECT spec FROM versions WHERE service = ? AND version = ?", (name, version)
        ).fetchone()
        return json.loads(row[0]) if row is not None else {}

    # replicas -------------------------------------------------------------

    def replicas(self, name: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT * FROM replicas WHERE service = ? ORDER BY replica_id", (name,)
        ).fetchall()
        return [dict(r) for r in rows]

    def new_replica(self, name: str, version: int, use_spot: bool) -> dict[str, Any]:
        """Reserve the next replica id and record the replica as PENDING."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            row = self.db.execute(
                "SELECT next_replica_id FROM services WHERE name = ?", (name,)
            ).fetchone()
            rid = int(row[0])
            now = time.time()
            self.db.execute(
                "UPDATE services SET next_replica_id = ? WHERE name = ?", (rid + 1, name)
            )
            self.db.execute(
                "INSERT INTO replicas (service, replica_id, version, cluster, status, use_spot,"
                " created_at, status_at) VALUES (?, ?, ?, ?, 'PENDING', ?, ?, ?)",
                (name, rid, version, f"{name}-{rid}", int(use_spot), now, now),
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        replica = self.replica(name, rid)
        assert replica is not None
        return replica

    def replica(self, name: str, replica_id: int) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT * FROM replicas WHERE service = ? AND replica_id = ?", (name, replica_id)
        ).fetchone()
        return dict(row) if row is not None else None

    def update_replica(self, name: str, replica_id: int, **fields: Any) -> None:
        if "status" in fields:
            fields.setdefault("status_at", time.time())
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute(
            f"UPDATE replicas SET {sets} WHERE service = ? AND replica_id = ?",
            (*fields.values(), name, replica_id),
        )

    def remove_replica(self, name: str, replica_id: int) -> None:
        self.db.execute(
            "DELETE FROM replicas WHERE service = ? AND replica_id = ?", (name, replica_id)
        )
