"""The ``storage`` table: buckets STIX created or used for storage objects, and who uses them."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import attrs

from stix.state.db import connect, replace_row, write

if TYPE_CHECKING:
    import sqlite3

# Storage statuses (SPEC §6.1, StorageStatus).
INIT = "INIT"
INIT_FAILED = "INIT_FAILED"
UPLOAD_FAILED = "UPLOAD_FAILED"
READY = "READY"


@attrs.frozen
class StorageRecord:
    """One row of ``stix storage ls``.

    :param name: the bucket name (unique across stores, as in SkyPilot).
    :param store: the store plugin's name (``s3``, ``gcs``...).
    :param source: the local path(s) or bucket URL it was filled from, if any.
    :param clusters: clusters whose launches mounted it and that still exist.
    :param persistent: False: deleted when the last cluster using it is torn down.
    :param managed: True when STIX created the bucket (only then does STIX delete it).
    """

    name: str
    store: str
    status: str = INIT
    source: str | list[str] | None = None
    region: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    clusters: tuple[str, ...] = ()
    persistent: bool = True
    managed: bool = False

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> StorageRecord:
        data = dict(row)
        data["source"] = json.loads(data["source"]) if data.get("source") else None
        data["clusters"] = tuple(json.loads(data["clusters"] or "[]"))
        data["persistent"] = bool(data.get("persistent"))
        data["managed"] = bool(data.get("managed"))
        for key in ("created_at", "updated_at"):
            data[key] = float(data.get(key) or 0.0)
        values: dict[str, Any] = {f.name: data.get(f.name) for f in attrs.fields(cls)}
        return cls(**values)

    def to_row(self) -> dict[str, Any]:
        row = attrs.asdict(self)
        row["source"] = json.dumps(self.source) if self.source is not None else None
        row["clusters"] = json.dumps(list(self.clusters))
        row["persistent"] = int(self.persistent)
        row["managed"] = int(self.managed)
        return row

    def as_dict(self) -> dict[str, Any]:
        """The JSON form printed by ``stix storage ls --json``."""
        out = attrs.asdict(self)
        out["clusters"] = list(self.clusters)
        return out


class StorageTable:
    """Reads and writes storage records; every write is one short transaction."""

    def __init__(self, db: sqlite3.Connection | None = None) -> None:
        self.db = db or connect()

    def get(self, name: str) -> StorageRecord | None:
        row = self.db.execute("SELECT * FROM storage WHERE name = ?", [name]).fetchone()
        return StorageRecord.from_row(dict(row)) if row is not None else None

    def all(self) -> list[StorageRecord]:
        rows = self.db.execute("SELECT * FROM storage ORDER BY created_at, name")
        return [StorageRecord.from_row(dict(r)) for r in rows]

    def _put(self, record: StorageRecord) -> None:
        replace_row(self.db, "storage", record.to_row())

    def begin(
        self,
        name: str,
        store: str,
        *,
        source: str | list[str] | None,
        region: str | None,
        persistent: bool,
        managed: bool,
    ) -> StorageRecord:
        """Insert or refresh ``name`` as INIT before touching the bucket.

        A bucket once recorded as created by STIX stays so; ``persistent`` follows the
        latest task that names it.
        """
        now = time.time()
        with write(self.db):
            old = self.get(name)
            record = StorageRecord(
                name=name,
                store=store,
                status=INIT,
                source=source,
                region=region if old is None else old.region or region,
                created_at=old.created_at if old is not None else now,
                updated_at=now,
                clusters=old.clusters if old is not None else (),
                persistent=persistent,
                managed=managed or (old is not None and old.managed),
            )
            self._put(record)
        return record

    def update(self, name: str, **fields: Any) -> StorageRecord | None:
        """Change some fields of ``name``; return the new record (None if absent)."""
        with write(self.db):
            record = self.get(name)
            if record is None:
                return None
            record = attrs.evolve(record, updated_at=time.time(), **fields)
            self._put(record)
        return record

    def add_cluster(self, name: str, cluster: str) -> None:
        """Note that ``cluster`` mounts ``name``."""
        with write(self.db):
            record = self.get(name)
            if record is not None and cluster not in record.clusters:
                self._put(attrs.evolve(record, clusters=(*record.clusters, cluster)))

    def drop_cluster(self, cluster: str) -> list[StorageRecord]:
        """Forget ``cluster`` everywhere; return the records it was removed from (updated)."""
        changed = []
        with write(self.db):
            for record in self.all():
                if cluster in record.clusters:
                    new = attrs.evolve(
                        record, clusters=tuple(c for c in record.clusters if c != cluster)
                    )
                    self._put(new)
                    changed.append(new)
        return changed

    def remove(self, name: str) -> None:
        with write(self.db):
            self.db.execute("DELETE FROM storage WHERE name = ?", [name])


__all__ = [
    "INIT",
    "INIT_FAILED",
    "READY",
    "UPLOAD_FAILED",
    "StorageRecord",
    "StorageTable",
]
