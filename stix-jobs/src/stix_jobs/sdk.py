"""Managed jobs for programs: ``launch``, ``queue``, ``cancel``, ``logs`` and pools.

    from stix_jobs import sdk
    [job_id] = sdk.launch("train.yaml", name="train")
    sdk.queue(); sdk.logs(job_id, follow=False); sdk.cancel([job_id])

The CLI (``stix jobs ...``) is a thin layer over these functions.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stix.errors import JobError, StixError

from stix_jobs import remote, states


def _load(source: Any) -> Any:
    from stix.task import Dag, Task, load_dag

    if isinstance(source, Dag):
        return source
    if isinstance(source, Task):
        return Dag(tasks=[source])
    if isinstance(source, (list, tuple)) and all(isinstance(t, Task) for t in source):
        return Dag(tasks=list(source))
    return load_dag(str(source) if isinstance(source, Path) else source)


def _absolute_paths(doc: dict[str, Any], base: Path) -> dict[str, Any]:
    """Local workdir and file-mount sources as absolute paths (the controller runs elsewhere)."""
    workdir = doc.get("workdir")
    if isinstance(workdir, str) and "://" not in workdir:
        doc["workdir"] = str((base / Path(workdir).expanduser()).resolve())
    mounts = doc.get("file_mounts") or {}
    for dst, src in list(mounts.items()):
        if isinstance(src, str) and "://" not in src:
            mounts[dst] = str((base / Path(src).expanduser()).resolve())
    return doc


def _resources_text(task: Any) -> str:
    from stix.backend.jobspec import demand

    res = task.resources[0] if task.resources else None
    parts = [f"{task.num_nodes}x"]
    if res is not None and res.cloud:
        parts.append(res.cloud)
    parts.append(f"[{demand(res)['display']}]")
    if res is not None and res.use_spot:
        parts.append("spot")
    return " ".join(parts)


def launch(
    task: Any,
    *,
    name: str | None = None,
    pool: str | None = None,
    num_jobs: int = 1,
    priority: int = 0,
    detach: bool = True,
    write: Callable[[bytes], None] | None = None,
) -> list[int]:
    """Submit a task or pipeline (``Task``, ``Dag``, YAML path/text) as managed job(s).

    :param num_jobs: submit this many copies (``SKYPILOT_JOB_RANK`` 0..N-1) in one request.
    :param pool: run on the warm workers of this pool instead of a new cluster per job.
    :param detach: return at once; otherwise follow the first job's log until it ends.
    :returns: the managed job ids.
    """
    from stix.backend.jobspec import current_user
    from stix.policy import apply_policy

    if num_jobs < 1:
        raise StixError(f"num_jobs must be >= 1, got {num_jobs}")
    dag = apply_policy(_load(task), "jobs_launch")
    if not dag.tasks:
        raise StixError("the YAML holds no task")
    if dag.is_job_group:
        raise StixError("execution: parallel job groups are not supported by stix jobs yet")
    if any(t.pool is not None for t in dag.tasks):
        raise StixError("a task with a 'pool:' section is a pool: use stix jobs pool apply")
    if pool and len(dag.tasks) > 1:
        raise StixError("--pool runs single-task jobs; a pipeline needs its own clusters")
    base = Path.cwd()
    docs = [_absolute_paths(t.to_yaml_config(reveal_secrets=True), base) for t in dag.tasks]
    job_name = name or dag.name or dag.tasks[0].name
    if name and len(dag.tasks) == 1:
        docs[0]["name"] = name
    from stix_jobs.client import ensure

    controller = ensure()
    controller.push_config()
    reply = controller.call(
        "submit",
        request={
            "docs": docs,
            "name": job_name,
            "task_names": [d.get("name") for d in docs],
            "user": current_user(),
            "pool": pool,
            "priority": priority,
            "num_jobs": num_jobs,
            "resources": _resources_text(dag.tasks[0]),
        },
    )
    if not reply.get("controller"):
        controller.start_process()
    ids = [int(i) for i in reply["job_ids"]]
    if not detach:
        logs(ids[0], follow=True, write=write)
    return ids


def queue(
    *,
    all: bool = False,
    skip_finished: bool = False,
    job_ids: list[int] | None = None,
    limit: int = 50,
    tasks: bool = False,
) -> list[dict[str, Any]]:
    """Managed jobs, newest first (``all``: no row limit). Never starts a controller."""
    from stix_jobs.client import existing

    controller = existing()
    if controller is None:
        return []
    args = [*(str(i) for i in job_ids or [])]
    if skip_finished:
        args.append("--skip-finished")
    if not all and limit:
        args += ["--limit", str(limit)]
    if tasks:
        args.append("--tasks")
    rows: list[dict[str, Any]] = controller.call("queue", *args)["jobs"]
    return rows


def cancel(
    job_ids: list[int] | None = None,
    *,
    name: str | None = None,
    pool: str | None = None,
    all: bool = False,
) -> list[int]:
    """Cancel managed jobs; a job being provisioned leaves no cluster behind."""
    from stix_jobs.client import existing

    if not (job_ids or name or pool or all):
        raise JobError("name the jobs to cancel: ids, name=, pool= or all=True")
    controller = existing()
    if controller is None:
        return []
    args = [str(i) for i in job_ids or []]
    if name:
        args += ["--name", name]
    if pool:
        args += ["--pool", pool]
    if all:
        args.append("--all")
    cancelled = [int(i) for i in controller.call("cancel", *args)["cancelled"]]
    if cancelled:
        controller.ensure_running()
    return cancelled


def logs(
    job_id: int | None = None,
    *,
    follow: bool = True,
    controller: bool = False,
    write: Callable[[bytes], None] | None = None,
) -> str | None:
    """Print a managed job's log (kept on the controller after its cluster is gone).

    :param follow: keep streaming across recoveries until the job ends.
    :param controller: print the controller's own log instead.
    :returns: the job's status when the output ended (None for the controller log).
    """
    import json

    from stix_jobs.client import existing

    ctl = existing()
    if ctl is None:
        raise JobError("there is no jobs controller (no managed job was launched)")

    def out(chunk: bytes) -> None:
        sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()

    args = [str(job_id)] if job_id is not None else []
    if not follow:
        args.append("--no-follow")
    if controller:
        args.append("--controller")
    stderr = ctl.stream("logs", *args, write=write or out)
    for line in stderr.splitlines():
        if line.startswith(remote.STATUS_MARK):
            status: str | None = json.loads(line[len(remote.STATUS_MARK) :])["status"]
            return status
    return None


def wait(job_ids: list[int], *, timeout: float = 600.0, poll: float = 0.5) -> dict[int, str]:
    """Block until every job is finished; return their final states."""
    deadline = time.time() + timeout
    while True:
        rows = {r["job_id"]: r["status"] for r in queue(job_ids=job_ids)}
        if len(rows) == len(job_ids) and all(states.is_terminal(s) for s in rows.values()):
            return rows
        if time.time() > deadline:
            raise JobError(f"jobs still running after {timeout:g}s: {rows}")
        time.sleep(poll)


def pool_apply(task: Any, pool: str, *, workers: int | None = None) -> dict[str, Any]:
    """Create or resize a pool from a YAML with a ``pool:`` section (``workers: N``)."""
    from stix.sdk.locks import check_name

    check_name(pool)
    dag = _load(task)
    if len(dag.tasks) != 1:
        raise StixError("a pool YAML holds one task")
    spec = dag.tasks[0]
    count = workers
    if count is None and spec.pool is not None:
        if spec.pool.workers is not None:
            count = spec.pool.workers
        elif spec.pool.max_workers is not None:
            count = spec.pool.min_workers or 0  # the controller scales from there
    if count is None:
        raise StixError("pool.workers: give the number of workers (or --workers N)")
    if spec.run:
        raise StixError("run: a pool YAML has no 'run'; jobs bring their own")
    doc = _absolute_paths(spec.to_yaml_config(reveal_secrets=True), Path.cwd())
    from stix_jobs.client import ensure

    controller = ensure()
    controller.push_config()
    reply: dict[str, Any] = controller.call(
        "pool-apply", request={"name": pool, "docs": [doc], "workers": count}
    )
    if not reply.get("controller"):
        controller.start_process()
    return reply


def pool_status(names: list[str] | None = None) -> list[dict[str, Any]]:
    """Pools and their workers (status, cluster, busy jobs)."""
    from stix_jobs.client import existing

    controller = existing()
    if controller is None:
        return []
    pools: list[dict[str, Any]] = controller.call("pool-status", *(names or []))["pools"]
    return pools


def pool_down(names: list[str] | None = None, *, all: bool = False) -> list[str]:
    """Remove pools: their workers go once their running jobs end; queued jobs fail."""
    from stix_jobs.client import existing

    controller = existing()
    if controller is None:
        return []
    args = [*(names or []), *(["--all"] if all else [])]
    down: list[str] = controller.call("pool-down", *args)["down"]
    if down:
        controller.ensure_running()
    return down
