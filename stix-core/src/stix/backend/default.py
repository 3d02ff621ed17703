"""The default backend: sync workdir and file mounts to every node, submit, stream logs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from stix.backend import progress
from stix.backend.handle import ClusterHandle
from stix.backend.ignore import excludes_for
from stix.backend.jobspec import job_spec
from stix.backend.runtime import client
from stix.errors import TaskError
from stix.interfaces import Backend
from stix.runner.base import Runner, run_parallel

if TYPE_CHECKING:
    from stix.task import Task

WORKDIR = "~/sky_workdir"


def check_sources(task: Task, *, file_mounts: bool = True) -> None:
    """Refuse a missing local ``workdir`` or ``file_mounts`` source before any node exists.

    :raises stix.errors.TaskError: naming the field and the path that is missing.
    """
    if isinstance(task.workdir, dict):
        raise TaskError("git workdirs are not supported by this backend yet", path="workdir")
    if task.workdir is not None:
        source = Path(task.workdir).expanduser()
        if not source.is_dir():
            what = "is not a folder" if source.exists() else "does not exist"
            raise TaskError(f"{source} {what}", path="workdir")
    if not file_mounts:
        return
    from stix.storage.mounts import is_local

    for dest, src in (task.file_mounts or {}).items():
        if is_local(src) and not Path(str(src)).expanduser().exists():
            raise TaskError(
                f"local source {Path(str(src)).expanduser()} does not exist",
                path=f"file_mounts.{dest}",
            )


def sync_workdir(handle: ClusterHandle, task: Task) -> None:
    """Mirror the task's local ``workdir`` to ``~/sky_workdir`` on every node."""
    if task.workdir is None:
        return
    if isinstance(task.workdir, dict):
        raise TaskError("git workdirs are not supported by this backend yet", path="workdir")
    source = Path(task.workdir).expanduser()
    if not source.is_dir():
        raise TaskError(f"{source} is not a folder", path="workdir")
    excludes = excludes_for(source)
    with progress.step(f"Syncing workdir {source}"):
        run_parallel(lambda r: r.sync(source, WORKDIR, excludes), handle.node_runners())


def sync_file_mounts(handle: ClusterHandle, task: Task) -> None:
    """Copy local ``file_mounts`` sources to every node; buckets go through their store plugin."""
    if not task.file_mounts:
        return
    from stix.storage.mounts import is_local, mount_buckets

    mount_buckets(handle, task)
    pairs = []
    for dest, src in task.file_mounts.items():
        if not is_local(src):
            continue
        assert isinstance(src, str)
        path = Path(src).expanduser()
        pairs.append((path, dest, excludes_for(path)))
    if not pairs:
        return
    with progress.step(f"Syncing {len(pairs)} file mount(s)"):
        runners = handle.node_runners()
        for path, dest, excludes in pairs:

            def copy(
                runner: Runner, p: Path = path, d: str = dest, e: list[str] = excludes
            ) -> None:
                runner.sync(p, d, e)

            run_parallel(copy, runners)


def setup_fingerprint(task: Task) -> str:
    """Changes whenever setup, its envs, or the synced workdir or file mounts change (``--fast``).

    Files that are not synced (ignored) do not count.
    """
    mounts = task.file_mounts or {}
    data = {
        "setup": task.setup,
        "envs": task.envs,
        "workdir": task.workdir if not isinstance(task.workdir, str) else _tree_stamp(task.workdir),
        "file_mounts": {
            k: _tree_stamp(v) if isinstance(v, str) and "://" not in v else str(v)
            for k, v in mounts.items()
        },
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _tree_stamp(source: str) -> str:
    """Names, sizes and mtimes of what syncing ``source`` (a folder or a file) would copy."""
    import os

    from stix.backend.ignore import ignored

    root = Path(source).expanduser()
    if root.is_file():
        st = root.stat()
        return f"{st.st_size}:{st.st_mtime_ns}"
    patterns = excludes_for(root)
    parts = []
    for folder, dirs, files in os.walk(root):
        rel = os.path.relpath(folder, root)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        dirs[:] = sorted(d for d in dirs if d != ".git" and not ignored(prefix + d, True, patterns))
        for name in sorted(files):
            if ignored(prefix + name, False, patterns):
                continue
            try:
                st = os.stat(os.path.join(folder, name))
            except OSError:
                continue
            parts.append(f"{prefix}{name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def submit(
    handle: ClusterHandle,
    task: Task,
    *,
    with_setup: bool,
    detach: bool,
    after_submit: Any = None,
) -> tuple[int, str | None]:
    """Queue ``task`` on the cluster; stream its log unless ``detach``.

    :param after_submit: called with the job id before following (e.g. to set autostop).
    :returns: (job id, final status or None when detached).
    """
    agent = client(handle)
    spec = job_spec(task, with_setup=with_setup)
    if detach or after_submit is not None:
        [job_id] = agent.submit([spec])
        if after_submit is not None:
            after_submit(job_id)
        if detach:
            return job_id, None
        _, status = agent.follow(job_id)
        return job_id, status
    job_id, status = agent.submit_and_follow(spec)
    return job_id, status


class DefaultBackend(Backend):
    """Runs tasks on clusters whose head node runs the STIX agent."""

    name: ClassVar[str] = "default"

    def execute(self, task: Task, cluster_name: str, *, detach: bool) -> int:
        """Sync the workdir and submit ``task`` to an UP cluster (no setup); return the job id."""
        from stix.sdk.clusters import require_up

        record = require_up(cluster_name)
        handle = ClusterHandle.from_dict(record.handle or {})
        sync_workdir(handle, task)
        job_id, _ = submit(handle, task, with_setup=False, detach=detach)
        return job_id


def launched_resources(candidate: Any) -> dict[str, Any]:
    """What the state DB keeps about the chosen node type (enough to restart the agent)."""
    acc = candidate.accelerators or {}
    name, count = next(iter(acc.items())) if acc else (None, 0)
    return {
        "cloud": candidate.cloud,
        "region": candidate.region,
        "zone": candidate.zone,
        "instance_type": candidate.instance_type,
        "vcpus": candidate.vcpus,
        "memory_gib": candidate.memory_gib,
        "accelerator": name,
        "accelerator_count": count,
        "use_spot": candidate.use_spot,
        "hourly_cost": candidate.hourly_cost,
        "choice": candidate.choice,
        "docker_image": (
            candidate.resources.docker_image(candidate.region) if candidate.resources else None
        ),
    }
