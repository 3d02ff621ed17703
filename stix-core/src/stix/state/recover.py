"""``stix state recover``: rebuild the state database from what still exists.

A damaged ``state.db`` is moved aside (never overwritten, never deleted), a fresh one is
made, the rows SQLite can still read are copied over, and every cluster a cloud can list
(:meth:`stix.interfaces.Provisioner.list_clusters`) that the database does not know is
added back, its handle rebuilt from the cloud and its head's agent.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import attrs

from stix.state.db import (
    connect,
    forget_damage,
    header_problem,
    replace_row,
    state_path,
    write,
)

_TABLES = ("clusters", "cluster_history", "jobs", "storage")


@attrs.frozen
class RecoverReport:
    """What ``recover`` did: the kept copy, rows salvaged, clusters found live."""

    path: str
    damaged_copy: str | None
    problem: str | None
    salvaged: dict[str, int]
    found: list[str]
    skipped: list[str]
    queues: list[str] = attrs.field(factory=list)


def problem_of(path: Path) -> str | None:
    """Why ``path`` is damaged (header, then a full ``integrity_check``), or None."""
    if not path.exists():
        return None
    problem = header_problem(path)
    if problem:
        return problem
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
        try:
            result = conn.execute("PRAGMA integrity_check(1)").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return None if result == "ok" else f"integrity_check: {result}"


def _move_aside(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    copy = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while copy.exists():
        copy = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
        n += 1
    for suffix in ("-wal", "-shm"):
        side = Path(f"{path}{suffix}")
        if side.exists():
            side.rename(Path(f"{copy}{suffix}"))
    path.rename(copy)
    forget_damage(path)  # the new file at ``path`` may be used again
    return copy


def _salvage(copy: Path, conn: sqlite3.Connection) -> dict[str, int]:
    """Copy every row SQLite can still read from ``copy`` (a scratch copy is read)."""
    scratch = copy.with_name(copy.name + ".read")
    shutil.copyfile(copy, scratch)
    for suffix in ("-wal", "-shm"):
        if Path(f"{copy}{suffix}").exists():
            shutil.copyfile(Path(f"{copy}{suffix}"), Path(f"{scratch}{suffix}"))
    counts: dict[str, int] = {}
    try:
        old = sqlite3.connect(str(scratch), timeout=5)
        old.row_factory = sqlite3.Row
    except sqlite3.DatabaseError:
        return counts
    try:
        for table in _TABLES:
            rows: list[dict[str, Any]] = []
            try:
                for row in old.execute(f"SELECT * FROM {table}"):
                    rows.append(dict(row))
            except sqlite3.DatabaseError:
                pass  # keep what came before the damaged page
            columns = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
            with write(conn):
                for row in rows:
                    replace_row(conn, table, {k: v for k, v in row.items() if k in columns})
            counts[table] = len(rows)
    finally:
        old.close()
        for leftover in (scratch, Path(f"{scratch}-wal"), Path(f"{scratch}-shm")):
            leftover.unlink(missing_ok=True)
    return counts


def _agent_facts(runners: list[Any]) -> tuple[str | None, dict[str, Any]]:
    """The head's agent zipapp path and its cluster description (empty when unreachable)."""
    from stix.backend.handle import AGENT_DIR

    try:
        found = runners[0].run(
            f"ls -t {AGENT_DIR}/agent-*.pyz 2>/dev/null | head -1; cat {AGENT_DIR}/cluster.json"
        )
    except Exception:
        return None, {}
    lines = found.stdout.splitlines()
    if not lines or not lines[0].endswith(".pyz"):
        return None, {}
    name = lines[0].rsplit("/", 1)[-1]
    try:
        info = json.loads("\n".join(lines[1:]) or "{}")
    except ValueError:
        info = {}
    return f"{AGENT_DIR}/{name}", info


def _rebuild(cloud: str, provisioner: Any, entry: dict[str, Any]) -> Any:
    """A cluster record rebuilt from the cloud and its head's agent, or None."""
    from stix.backend.handle import ClusterHandle
    from stix.backend.jobspec import current_user
    from stix.provision.attempt import command_runners
    from stix.state.clusters import STOPPED, UP, ClusterRecord

    cno, region = entry["cluster_name_on_cloud"], entry.get("region")
    info = provisioner.get_cluster_info(cno, region)
    if not info.instances:
        return None
    states = provisioner.query_instances(cno, region)
    live = [s for s in states.values() if s is not None]
    status = UP if live and all(s == UP for s in live) else STOPPED
    runners = command_runners(provisioner, info)
    agent_path, agent = _agent_facts(runners) if status == UP else (None, {})
    name = entry.get("cluster_name") or agent.get("cluster_name")
    if not name:
        return None
    head = (agent.get("nodes") or [{}])[0]
    count = int(head.get("gpus") or 0)
    launched = {
        "cloud": cloud,
        "region": info.region,
        "zone": info.zone,
        "vcpus": head.get("cpus"),
        "memory_gib": head.get("memory"),
        "accelerator_count": count,
        "accelerator": None,
    }
    handle = ClusterHandle(
        cluster_name=name,
        cluster_name_on_cloud=cno,
        cloud=info.cloud,
        region=info.region,
        zone=info.zone,
        ips=tuple(i.internal_ip for i in info.instances),
        instance_ids=tuple(i.instance_id for i in info.instances),
        runners=tuple(r.to_spec() for r in runners),
        agent_path=agent_path,
        python=runners[0].python() if agent_path else "python3",
    )
    now = time.time()
    return ClusterRecord(
        name=name,
        status=status,
        cloud=info.cloud,
        region=info.region,
        zone=info.zone,
        num_nodes=len(info.instances),
        launched_resources=launched,
        handle=handle.to_dict(),
        launched_at=now,
        status_updated_at=now,
        user=current_user(),
        last_command="state recover",
    )


def recover(path: Path | None = None) -> RecoverReport:
    """Rebuild ``state.db``: keep a copy of a damaged one, salvage rows, add live clusters."""
    from stix.plugins import get_registry
    from stix.state.clusters import ClusterStore

    path = path or state_path()
    problem = problem_of(path)
    copy = _move_aside(path) if problem else None
    conn = connect(path)
    salvaged = _salvage(copy, conn) if copy is not None else {}
    store = ClusterStore(conn)
    known = {r.name for r in store.all()}
    found: list[str] = []
    skipped: list[str] = []
    registry = get_registry()
    for cloud in registry.clouds():
        try:
            provisioner = registry.provisioner(cloud)
            entries = provisioner.list_clusters() or []
        except Exception as exc:  # one cloud that cannot answer must not stop the rest
            skipped.append(f"{cloud}: {exc}")
            continue
        for entry in entries:
            if entry.get("cluster_name") in known:
                continue
            try:
                record = _rebuild(cloud, provisioner, entry)
            except Exception as exc:
                skipped.append(f"{cloud}/{entry.get('cluster_name_on_cloud')}: {exc}")
                continue
            if record is None or record.name in known:
                continue
            store.put(record)
            known.add(record.name)
            found.append(record.name)
    queues = _recover_queues(store, skipped)
    return RecoverReport(
        str(path), str(copy) if copy else None, problem, salvaged, found, skipped, queues
    )


def _recover_queues(store: Any, skipped: list[str]) -> list[str]:
    """Have every UP cluster's agent set a damaged job database aside (``recover-db``)."""
    from stix.backend.handle import ClusterHandle
    from stix.backend.runtime import client
    from stix.state.clusters import UP

    kept = []
    for record in store.all():
        if record.status != UP or not (record.handle or {}).get("agent_path"):
            continue
        try:
            reply = client(ClusterHandle.from_dict(record.handle)).call("recover-db")
        except Exception as exc:
            skipped.append(f"{record.name}: {exc}")
            continue
        if reply.get("kept"):
            kept.append(f"{record.name}: {reply['kept']}")
    return kept
