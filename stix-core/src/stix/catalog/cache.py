"""The indexed SQLite cache of every catalog, rebuilt when a CSV changes.

One database (``$STIX_HOME/catalogs/.cache.sqlite3``) holds all clouds. Each
cloud is keyed by the mtime and size of its CSV files; a changed or new file
rebuilds only that cloud, under a write lock so concurrent commands agree.
Uses the standard library's ``sqlite3``: it imports in about a millisecond.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stix.catalog import gcp_rows

SCHEMA_VERSION = 8  # 8: a 0.00 SpotPrice is a price; T4/K80 default n1 hosts sized 4 vCPUs per GPU
CACHE_NAME = ".cache.sqlite3"
COMMON_KEY = "@common"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (cloud TEXT PRIMARY KEY, folder TEXT, signature TEXT);
CREATE TABLE IF NOT EXISTS offers (
    cloud TEXT NOT NULL, instance_type TEXT, acc TEXT, acc_count REAL NOT NULL,
    vcpus REAL NOT NULL, memory REAL NOT NULL, gpu_mem REAL, price REAL NOT NULL, spot REAL,
    region TEXT, zone TEXT, kind INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS offers_type ON offers (instance_type, cloud);
CREATE INDEX IF NOT EXISTS offers_acc ON offers (acc, acc_count);
CREATE INDEX IF NOT EXISTS offers_region ON offers (cloud, region);
CREATE TABLE IF NOT EXISTS groups (
    cloud TEXT NOT NULL, instance_type TEXT, acc TEXT, acc_count REAL NOT NULL,
    vcpus REAL NOT NULL, memory REAL NOT NULL, gpu_mem REAL, price REAL NOT NULL, spot REAL,
    region TEXT, zone TEXT, kind INTEGER NOT NULL, locations INTEGER NOT NULL,
    spot_region TEXT, spot_zone TEXT
);
CREATE INDEX IF NOT EXISTS groups_acc ON groups (acc, acc_count);
CREATE INDEX IF NOT EXISTS groups_cpu ON groups (acc, vcpus);
CREATE TABLE IF NOT EXISTS gpus (name TEXT PRIMARY KEY, memory REAL, manufacturer TEXT);
CREATE TABLE IF NOT EXISTS images (cloud TEXT, tag TEXT, region TEXT, image_id TEXT);
"""


def _signature(folder: Path, names: tuple[str, ...]) -> str:
    parts = []
    for name in names:
        try:
            st = os.stat(folder / name)
        except OSError:
            parts.append(f"{name}:-")
            continue
        parts.append(f"{name}:{st.st_mtime_ns}:{st.st_size}")
    return f"{folder}|" + "|".join(parts)


_CLOUD_FILES = ("vms.csv", "images.csv")
_COMMON_FILES = ("metadata.csv",)


def _guess_maker(name: str) -> str | None:
    lowered = name.lower()
    if lowered.startswith(("mi", "radeon")):
        return "amd"
    if lowered.startswith("gaudi"):
        return "intel"
    if lowered.startswith("tpu"):
        return "google"
    return "nvidia"


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the cache database at ``path``.

    The cache holds nothing that the CSVs do not: a damaged one is removed and rebuilt.
    """
    from stix.agent.db import header_problem

    if path.exists() and path.stat().st_size and header_problem(path):
        discard(path)
    try:
        return _connect(path)
    except sqlite3.DatabaseError:
        discard(path)
        return _connect(path)


def discard(path: Path) -> None:
    """Remove the cache file and its WAL files (the next open rebuilds it)."""
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        name.unlink(missing_ok=True)


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=60, isolation_level=None, check_same_thread=False)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version != SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            for table in ("sources", "offers", "groups", "gpus", "images"):
                conn.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
            _enable_wal(conn)
        else:
            conn.execute("COMMIT")
    return conn


def _enable_wal(conn: sqlite3.Connection, attempts: int = 50) -> None:
    """Switch to WAL so readers never wait for a rebuild.

    Changing the journal mode does not wait on SQLite's busy handler: while another
    process has the file open it fails at once with "database is locked", so retry
    briefly. WAL only speeds things up; the cache works without it.
    """
    for attempt in range(attempts):
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            time.sleep(0.02 * (attempt + 1))


def refresh(
    conn: sqlite3.Connection, folders: Mapping[str, Path], common: Path | None
) -> list[str]:
    """Bring the cache in line with ``folders`` (``{cloud: folder}``).

    :returns: the clouds that were rebuilt.
    """
    wanted = {cloud: _signature(folder, _CLOUD_FILES) for cloud, folder in folders.items()}
    if common is not None:
        wanted[COMMON_KEY] = _signature(common, _COMMON_FILES)
    have = dict(conn.execute("SELECT cloud, signature FROM sources").fetchall())
    if have == wanted:
        return []
    from stix.catalog.files import reading

    conn.execute("BEGIN IMMEDIATE")
    try:
        have = dict(conn.execute("SELECT cloud, signature FROM sources").fetchall())
        changed = [c for c in wanted if have.get(c) != wanted[c]]
        gone = [c for c in have if c not in wanted]
        for cloud in gone:
            _drop(conn, cloud)
        for cloud in changed:
            _drop(conn, cloud)
            if cloud != COMMON_KEY:
                with reading(cloud):  # a concurrent install swaps the folder
                    wanted[cloud] = _signature(folders[cloud], _CLOUD_FILES)
                    _load_cloud(conn, cloud, folders[cloud])
            conn.execute(
                "INSERT INTO sources VALUES (?, ?, ?)",
                (cloud, str(folders.get(cloud, common)), wanted[cloud]),
            )
        if changed or gone:
            _load_gpus(conn, common)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return [c for c in changed if c != COMMON_KEY]


def _drop(conn: sqlite3.Connection, cloud: str) -> None:
    for table in ("offers", "groups", "images"):
        conn.execute(f"DELETE FROM {table} WHERE cloud = ?", (cloud,))
    conn.execute("DELETE FROM sources WHERE cloud = ?", (cloud,))


def _load_cloud(conn: sqlite3.Connection, cloud: str, folder: Path) -> None:
    from stix.catalog.rows import read_images, read_vms

    rows = read_vms(folder / "vms.csv")
    if any(r.instance_type is None for r in rows):
        pairs = gcp_rows.expand(rows)
    else:
        pairs = [(r, gcp_rows.PLAIN) for r in rows]
    conn.executemany(
        "INSERT INTO offers VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            (
                cloud,
                r.instance_type,
                r.accelerator_name,
                r.accelerator_count,
                r.vcpus,
                r.memory_gib,
                r.gpu_memory_gib,
                r.price,
                r.spot_price,
                r.region,
                r.zone,
                kind,
            )
            for r, kind in pairs
        ),
    )
    # The cheapest location of each (instance type, accelerator) group, and
    # separately the location of its cheapest spot price, plus its location count.
    best: dict[tuple[object, ...], list[Any]] = {}
    for r, kind in pairs:
        key = (r.instance_type, r.accelerator_name, r.accelerator_count)
        entry = best.get(key)
        if entry is None:
            best[key] = [r, kind, r if r.spot_price is not None else None, 1]
            continue
        if r.price < entry[0].price:
            entry[0], entry[1] = r, kind
        if r.spot_price is not None and (entry[2] is None or r.spot_price < entry[2].spot_price):
            entry[2] = r
        entry[3] += 1
    conn.executemany(
        "INSERT INTO groups VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            (cloud, r.instance_type, r.accelerator_name, r.accelerator_count, r.vcpus,
             r.memory_gib, r.gpu_memory_gib, r.price, s.spot_price if s else None, r.region,
             r.zone, kind, n, s.region if s else None, s.zone if s else None)
            for r, kind, s, n in best.values()
        ),
    )  # fmt: skip
    if (folder / "images.csv").is_file():
        conn.executemany(
            "INSERT INTO images VALUES (?,?,?,?)",
            (
                (cloud, tag, region, image)
                for tag, region, image in read_images(folder / "images.csv")
            ),
        )


def _load_gpus(conn: sqlite3.Connection, common: Path | None) -> None:
    from stix.catalog.rows import read_gpu_metadata

    conn.execute("DELETE FROM gpus")
    specs: dict[str, tuple[float | None, str | None]] = {}
    meta: dict[str, tuple[float | None, str | None]] = {}
    if common is not None and (common / "metadata.csv").is_file():
        meta = {n.lower(): (m, mk) for n, m, mk in read_gpu_metadata(common / "metadata.csv")}
    # Per-device memory: the curated metadata first, else single-device rows,
    # else the rows as SkyPilot's format means them (SizeInMiB is per device).
    seen: dict[str, list[tuple[float, float]]] = {}
    for name, count, memory in conn.execute(
        "SELECT acc, acc_count, gpu_mem FROM offers WHERE acc IS NOT NULL AND gpu_mem > 0"
    ):
        seen.setdefault(name, []).append((float(count), float(memory)))
    for name in {n for (n,) in conn.execute("SELECT DISTINCT acc FROM offers WHERE acc NOT NULL")}:
        meta_mem, maker = meta.get(name.lower(), (None, None))
        memory = meta_mem or _device_memory(seen.get(name, []))
        specs[name] = (round(memory, 2) if memory else None, maker or _guess_maker(name))
    conn.executemany(
        "INSERT INTO gpus VALUES (?,?,?)", ((n, m, mk) for n, (m, mk) in specs.items())
    )


def _device_memory(rows: list[tuple[float, float]]) -> float | None:
    """Memory of one device from ``(count, GpuInfo memory)`` rows of one accelerator.

    Some marketplaces write the total of all devices where SkyPilot's format has the
    per-device size: that shows as memory growing with the count, and is divided once.
    """
    if not rows:
        return None
    single = [memory for count, memory in rows if count == 1]
    if single:
        return min(single)
    counts = {count for count, _ in rows}
    ratios = [memory / count for count, memory in rows if count > 0]
    if len(counts) > 1 and ratios and max(ratios) <= min(ratios) * 1.03:
        return min(ratios)
    return min(memory for _, memory in rows)


__all__ = ["CACHE_NAME", "SCHEMA_VERSION", "connect", "refresh"]
