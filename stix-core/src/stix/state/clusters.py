"""Cluster records (the ``clusters`` table) and their history rows for ``cost-report``."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import attrs

from stix.state.db import connect, replace_row, write

if TYPE_CHECKING:
    import sqlite3

# Cluster statuses (SPEC §6.1).
INIT = "INIT"
UP = "UP"
STOPPED = "STOPPED"
AUTOSTOPPING = "AUTOSTOPPING"


@attrs.frozen
class ClusterRecord:
    """One row of ``stix status``. ``handle`` says where the nodes are (JSON-able dict)."""

    name: str
    status: str
    cloud: str | None = None
    region: str | None = None
    zone: str | None = None
    instance_type: str | None = None
    num_nodes: int = 1
    use_spot: bool = False
    resources: str | None = None
    launched_resources: dict[str, Any] | None = None
    handle: dict[str, Any] | None = None
    launched_at: float | None = None
    status_updated_at: float | None = None
    autostop_minutes: float = -1
    autostop_down: bool = False
    hourly_price: float = 0.0
    user: str | None = None
    setup_hash: str | None = None
    last_command: str | None = None
    history_id: int | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ClusterRecord:
        data = dict(row)
        for key in ("launched_resources", "handle"):
            data[key] = json.loads(data[key]) if data.get(key) else None
        data["use_spot"] = bool(data.get("use_spot"))
        data["autostop_down"] = bool(data.get("autostop_down"))
        if data.get("autostop_minutes") is None:
            data["autostop_minutes"] = -1
        if data.get("hourly_price") is None:
            data["hourly_price"] = 0.0
        values: dict[str, Any] = {f.name: data.get(f.name) for f in attrs.fields(cls)}
        return cls(**values)

    def to_row(self) -> dict[str, Any]:
        row = attrs.asdict(self)
        for key in ("launched_resources", "handle"):
            row[key] = json.dumps(row[key]) if row[key] is not None else None
        row["use_spot"] = int(self.use_spot)
        row["autostop_down"] = int(self.autostop_down)
        return row

    def as_dict(self) -> dict[str, Any]:
        """The JSON form printed by ``stix status --json`` (no handle internals)."""
        out = attrs.asdict(self)
        out.pop("handle")
        out.pop("setup_hash")
        out.pop("history_id")
        out["infra"] = "/".join(p for p in (self.cloud, self.region, self.zone) if p)
        return out


class ClusterStore:
    """Reads and writes cluster records and history; every write is one short transaction."""

    def __init__(self, db: sqlite3.Connection | None = None) -> None:
        self.db = db or connect()

    def get(self, name: str) -> ClusterRecord | None:
        row = self.db.execute("SELECT * FROM clusters WHERE name = ?", [name]).fetchone()
        return ClusterRecord.from_row(dict(row)) if row is not None else None

    def all(self) -> list[ClusterRecord]:
        rows = self.db.execute("SELECT * FROM clusters ORDER BY launched_at, name")
        return [ClusterRecord.from_row(dict(r)) for r in rows]

    def put(self, record: ClusterRecord) -> None:
        replace_row(self.db, "clusters", record.to_row())

    def update(self, name: str, **fields: Any) -> ClusterRecord | None:
        """Change some fields of cluster ``name``; return the new record (None if absent)."""
        with write(self.db):
            record = self.get(name)
            if record is None:
                return None
            record = attrs.evolve(record, **fields)
            self.put(record)
        return record

    def set_status(self, name: str, status: str) -> ClusterRecord | None:
        """Move cluster ``name`` to ``status`` and keep its usage intervals right."""
        with write(self.db):
            record = self.get(name)
            if record is None:
                return None
            now = time.time()
            record = attrs.evolve(record, status=status, status_updated_at=now)
            self.put(record)
            if record.history_id is not None:
                self._mark_usage(record.history_id, running=status in (UP, INIT), now=now)
        return record

    def remove(self, name: str) -> None:
        """Drop cluster ``name`` (terminated); its history row is closed."""
        with write(self.db):
            record = self.get(name)
            if record is None:
                return
            self.db.execute("DELETE FROM clusters WHERE name = ?", [name])
            self.db.execute("DELETE FROM jobs WHERE cluster = ?", [name])
            if record.history_id is not None:
                now = time.time()
                self._mark_usage(record.history_id, running=False, now=now)
                self.db.execute(
                    "UPDATE cluster_history SET terminated_at = ?, status = 'TERMINATED' WHERE id = ?",
                    [now, record.history_id],
                )

    def start_history(self, record: ClusterRecord, cluster_name_on_cloud: str) -> int:
        """Open a cost-report row for a new cluster; return its id."""
        now = time.time()
        cur = self.db.execute(
            "INSERT INTO cluster_history (name, cluster_name_on_cloud, cloud, region, zone, "
            "resources, num_nodes, hourly_price, launched_at, intervals, status, user) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                record.name,
                cluster_name_on_cloud,
                record.cloud,
                record.region,
                record.zone,
                record.resources,
                record.num_nodes,
                record.hourly_price,
                now,
                json.dumps([[now, None]]),
                record.status,
                record.user,
            ],
        )
        return int(cur.lastrowid or 0)

    def _mark_usage(self, history_id: int, *, running: bool, now: float) -> None:
        row = self.db.execute(
            "SELECT intervals FROM cluster_history WHERE id = ?", [history_id]
        ).fetchone()
        if row is None:
            return
        intervals = json.loads(row[0] or "[]")
        open_ = bool(intervals) and intervals[-1][1] is None
        if running and not open_:
            intervals.append([now, None])
        elif not running and open_:
            intervals[-1][1] = now
        self.db.execute(
            "UPDATE cluster_history SET intervals = ? WHERE id = ?",
            [json.dumps(intervals), history_id],
        )

    def history(self, days: float | None = 30) -> list[dict[str, Any]]:
        """History rows launched in the last ``days`` (all when None), newest first."""
        since = 0.0 if days is None else time.time() - days * 86400
        rows = self.db.execute(
            "SELECT * FROM cluster_history WHERE launched_at >= ? ORDER BY launched_at DESC",
            [since],
        )
        out = []
        for found in rows.fetchall():
            row = dict(found)
            row["intervals"] = json.loads(row["intervals"] or "[]")
            out.append(row)
        return out

    def mirror_jobs(self, cluster: str, jobs: list[dict[str, Any]]) -> None:
        """Remember the latest job rows seen from a cluster's agent."""
        if not jobs:
            return
        with write(self.db):
            for job in jobs:
                self.db.execute(
                    "INSERT OR REPLACE INTO jobs (cluster, job_id, name, status, submitted_at, "
                    "start_at, end_at, resources, exit_codes, user) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    [
                        cluster,
                        job["job_id"],
                        job.get("name"),
                        job.get("status"),
                        job.get("submitted_at"),
                        job.get("start_at"),
                        job.get("end_at"),
                        job.get("resources"),
                        json.dumps(job.get("exit_codes")),
                        job.get("user"),
                    ],
                )

    def mirrored_jobs(self, cluster: str) -> list[dict[str, Any]]:
        """Job rows last seen for ``cluster`` (used when the cluster is stopped)."""
        rows = self.db.execute(
            "SELECT * FROM jobs WHERE cluster = ? ORDER BY job_id DESC", [cluster]
        )
        out = []
        for found in rows:
            job = dict(found)
            job["exit_codes"] = json.loads(job["exit_codes"]) if job["exit_codes"] else None
            out.append(job)
        return out


def usage_hours(intervals: list[list[float | None]], now: float | None = None) -> float:
    """Hours covered by ``[start, end|None]`` intervals (open ones end now)."""
    now = now or time.time()
    return sum(((end or now) - start) for start, end in intervals if start) / 3600.0
