"""Cluster lifecycle in the SDK: status, stop, start, down, autostop, cost report."""

from __future__ import annotations

import fnmatch
import sys
import time
from typing import Any

from stix.errors import ClusterError, StixError
from stix.sdk.locks import cluster_lock
from stix.state.clusters import (
    AUTOSTOPPING,
    INIT,
    STOPPED,
    UP,
    ClusterRecord,
    ClusterStore,
    usage_hours,
)


def _store() -> ClusterStore:
    return ClusterStore()


def get_record(name: str, store: ClusterStore | None = None) -> ClusterRecord:
    """The record of cluster ``name``.

    :raises stix.errors.ClusterError: no such cluster.
    """
    record = (store or _store()).get(name)
    if record is None:
        raise ClusterError(f"cluster {name!r} does not exist", hint="see: stix status")
    return record


def require_up(name: str, store: ClusterStore | None = None) -> ClusterRecord:
    """The record of cluster ``name``, which must be UP."""
    record = get_record(name, store)
    if record.status != UP:
        raise ClusterError(
            f"cluster {name!r} is {record.status}, not UP",
            hint=f"stix start {name}"
            if record.status == STOPPED
            else f"stix status --refresh {name}",
        )
    return record


def status(cluster_names: list[str] | None = None, *, refresh: bool = False) -> list[ClusterRecord]:
    """Clusters known to this machine (names may be globs); ``refresh`` asks the clouds first."""
    store = _store()
    records = store.all()
    if cluster_names:
        records = [r for r in records if any(fnmatch.fnmatchcase(r.name, p) for p in cluster_names)]
    if not refresh:
        return records
    from stix.provision.refresh import refresh as refresh_one

    out = []
    for record in records:
        with cluster_lock(record.name):
            current = store.get(record.name)
            try:
                new = refresh_one(current, store) if current is not None else None
            except StixError as exc:
                # one cloud that cannot answer must not hide every other cluster's state
                print(
                    f"warning: cluster {record.name}: could not refresh: {exc.message}",
                    file=sys.stderr,
                )
                new = current
        if new is not None:
            out.append(new)
    return out


def _provisioner(record: ClusterRecord) -> Any:
    from stix.plugins import get_registry

    if not record.cloud:
        return None
    return get_registry().provisioner(record.cloud)


def stop(cluster_name: str) -> ClusterRecord:
    """Stop every node of a cluster, keeping its disks."""
    from stix.plugins import get_registry

    with cluster_lock(cluster_name):
        store = _store()
        record = get_record(cluster_name, store)
        if record.status == STOPPED:
            return record
        _check_guard(cluster_name, "stop")
        cloud = get_registry().cloud(record.cloud or "")
        if "stop" not in cloud.features:
            raise ClusterError(
                f"cluster {cluster_name!r}: {record.cloud} cannot stop nodes",
                hint=f"stix down {cluster_name}",
            )
        handle = record.handle or {}
        if record.status == UP:
            _remember_jobs(record, store)
        _provisioner(record).stop_instances(handle["cluster_name_on_cloud"], record.region)
        new = store.set_status(cluster_name, STOPPED)
        assert new is not None
        return new


def _remember_jobs(record: ClusterRecord, store: ClusterStore) -> None:
    """Stop the agent, then keep a copy of the job table so ``queue`` answers while stopped.

    Stopping the agent first ends running jobs as FAILED_DRIVER (they die with the node),
    so the copy never shows a job as RUNNING on a stopped cluster.
    """
    from stix.backend.handle import ClusterHandle
    from stix.backend.runtime import client
    from stix.errors import StixError

    agent = client(ClusterHandle.from_dict(record.handle or {}))
    try:
        agent.call("shutdown")
        jobs = agent.call("queue")["jobs"]
    except (StixError, OSError):
        return
    store.mirror_jobs(record.name, jobs)


def _check_guard(cluster_name: str, action: str) -> None:
    """Refuse when a plugin still depends on the cluster (a controller with live work)."""
    from stix.plugins import get_registry

    reason = get_registry().teardown_refusal(cluster_name, action)
    if reason:
        anyway = f"stix down --purge {cluster_name} tears it down anyway"
        raise ClusterError(
            f"cluster {cluster_name!r}: {reason}", hint=anyway if action == "down" else None
        )


def down(cluster_name: str, *, purge: bool = False) -> None:
    """Tear a cluster down: its nodes, disks and processes are removed.

    Refused while a plugin still depends on the cluster (a serve or jobs controller with
    live services or jobs), unless ``purge``.
    """
    with cluster_lock(cluster_name):
        store = _store()
        record = get_record(cluster_name, store)
        if not purge:
            _check_guard(cluster_name, "down")
        handle = record.handle or {}
        name_on_cloud = handle.get("cluster_name_on_cloud")
        if name_on_cloud and record.cloud:
            try:
                _provisioner(record).terminate_instances(name_on_cloud, record.region)
            except Exception:
                if not purge:
                    raise
        from stix.provision.refresh import forget_gone

        forget_gone(record, store)


def start(
    cluster_name: str,
    *,
    idle_minutes_to_autostop: float | None = None,
    down: bool = False,
    retry_until_up: bool = False,
    force: bool = False,
) -> ClusterRecord:
    """Restart a stopped (or unhealthy) cluster in the same place, then its agent."""
    from stix.sdk.launcher import restart_cluster

    check_minutes(idle_minutes_to_autostop, "idle_minutes_to_autostop")
    with cluster_lock(cluster_name):
        store = _store()
        record = get_record(cluster_name, store)
        if record.status != UP or force:
            record = restart_cluster(record, store)
    if idle_minutes_to_autostop is not None or down:
        record = autostop(
            cluster_name,
            idle_minutes_to_autostop if idle_minutes_to_autostop is not None else 0,
            down=down,
        )
    return record


def check_minutes(value: float | None, what: str) -> None:
    """Refuse NaN and infinite idle times before anything is changed.

    :raises stix.errors.ClusterError: naming ``what``.
    """
    import math

    if value is not None and (isinstance(value, bool) or not math.isfinite(value)):
        raise ClusterError(f"{what} must be a finite number of minutes, got {value!r}")


def autostop(
    cluster_name: str, idle_minutes: float | None = 5, *, down: bool = False, cancel: bool = False
) -> ClusterRecord:
    """Stop (or with ``down``, tear down) the cluster after ``idle_minutes`` without jobs.

    Fractional minutes are allowed (``0.05`` is three seconds); a negative value cancels,
    as ``-1`` does in SkyPilot.
    """
    from stix.backend.handle import ClusterHandle
    from stix.backend.runtime import client

    check_minutes(idle_minutes, "idle_minutes")
    if idle_minutes is not None and idle_minutes < 0:
        cancel = True
    with cluster_lock(cluster_name):  # re-entrant: launch/start may hold it
        store = _store()
        record = require_up(cluster_name, store)
        if not cancel and record.cloud:
            from stix.plugins import get_registry

            features = get_registry().cloud(record.cloud).features
            if down and "autodown" not in features:
                raise ClusterError(
                    f"cluster {cluster_name!r}: {record.cloud} clusters cannot tear themselves down",
                    hint=f"run stix down {cluster_name} when done",
                )
            if not down and "autostop" not in features:
                raise ClusterError(
                    f"cluster {cluster_name!r}: {record.cloud} supports only autodown",
                    hint="add --down",
                )
        agent = client(ClusterHandle.from_dict(record.handle or {}))
        if cancel:
            agent.call("set-autostop", "--cancel")
            minutes: float = -1
        else:
            minutes = float(5 if idle_minutes is None else idle_minutes)
            args = ["set-autostop", "--idle-seconds", str(minutes * 60)]
            agent.call(*args, *(["--down"] if down else []))
        new = store.update(
            cluster_name, autostop_minutes=minutes, autostop_down=bool(down and not cancel)
        )
        if new is None:  # removed by a teardown that did not go through this lock
            raise ClusterError(
                f"cluster {cluster_name!r} no longer exists", hint="see: stix status"
            )
        return new


def cost_report(days: float | None = 30) -> list[dict[str, Any]]:
    """Every cluster launched in the last ``days``: duration, hourly price and estimated cost."""
    store = _store()
    live = {r.name: r for r in store.all()}
    now = time.time()
    rows = []
    for row in store.history(days):
        hours = usage_hours(row["intervals"], now)
        price = float(row["hourly_price"] or 0) * int(row["num_nodes"] or 1)
        current = live.get(row["name"])
        state = "TERMINATED" if row["terminated_at"] else (current.status if current else INIT)
        rows.append(
            {
                "name": row["name"],
                "launched_at": row["launched_at"],
                "duration_s": round(hours * 3600, 1),
                "resources": row["resources"],
                "num_nodes": row["num_nodes"],
                "status": state,
                "hourly_cost": price,
                "cost": round(hours * price, 6),
            }
        )
    return rows


__all__ = [
    "AUTOSTOPPING",
    "autostop",
    "cost_report",
    "down",
    "get_record",
    "require_up",
    "start",
    "status",
    "stop",
]
