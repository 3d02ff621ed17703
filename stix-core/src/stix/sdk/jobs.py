"""Jobs on a cluster in the SDK: queue, logs, cancel, status."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stix.backend.handle import ClusterHandle
from stix.errors import ClusterError
from stix.sdk.clusters import get_record, require_up
from stix.state.clusters import ClusterRecord, ClusterStore


def _client(cluster: str | ClusterRecord) -> Any:
    """The agent client of an UP cluster (named, or a record already read)."""
    from stix.backend.runtime import client

    record = require_up(cluster) if isinstance(cluster, str) else cluster
    return client(ClusterHandle.from_dict(record.handle or {}))


def queue(cluster_name: str, *, skip_finished: bool = False) -> list[dict[str, Any]]:
    """The cluster's jobs, newest first (from the last seen copy when it is stopped)."""
    store = ClusterStore()
    record = get_record(cluster_name, store)
    if record.status != "UP":
        jobs = store.mirrored_jobs(cluster_name)
        if skip_finished:
            jobs = [j for j in jobs if j["status"] in ("INIT", "PENDING", "SETTING_UP", "RUNNING")]
        return jobs
    args = ["queue", *(["--skip-finished"] if skip_finished else [])]
    jobs = list(_client(record).call(*args)["jobs"])
    store.mirror_jobs(cluster_name, jobs)
    return jobs


def job_status(cluster_name: str, job_ids: list[int]) -> dict[int, str | None]:
    """Current state of each job id."""
    reply = _client(cluster_name).call("status", *map(str, job_ids))["statuses"]
    return {int(k): v for k, v in reply.items()}


def tail_logs(
    cluster_name: str,
    job_id: int | None = None,
    *,
    follow: bool = True,
    tail: int = 0,
    write: Callable[[bytes], None] | None = None,
) -> tuple[int | None, str | None]:
    """Print a job's log (default: the latest job), following it until it ends.

    :returns: (job id, final status) so callers can set their exit code.
    """
    return _client(cluster_name).follow(job_id, follow=follow, tail=tail, write=write)


def cancel(cluster_name: str, job_ids: list[int] | None = None, *, all: bool = False) -> list[int]:
    """Cancel jobs (their process groups on every node are killed); return the cancelled ids."""
    if not job_ids and not all:
        raise ClusterError("name the job ids to cancel, or use all=True")
    args = ["cancel", *(["--all"] if all else []), *map(str, job_ids or [])]
    return list(_client(cluster_name).call(*args)["cancelled"])
