"""What the replica manager does to a replica's cluster: launch it, find its address,
check it is still alive, tear it down. Launches and teardowns run the ``stix`` CLI in a
subprocess so that a slow cloud never blocks the load balancer's event loop.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from stix_serve import states

ENDED_JOB = frozenset({"SUCCEEDED", "FAILED", "FAILED_SETUP", "FAILED_DRIVER", "CANCELLED"})


async def run_stix(args: list[str], log_path: Path) -> int:
    """Run ``stix ARGS`` with output appended to ``log_path``; return its exit code.

    Cancelling the caller kills the subprocess (a launch stopped by ``serve down``).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "stix",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            return await proc.wait()
        except asyncio.CancelledError:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            raise


async def launch(
    cluster: str, task_file: Path, replica_id: int, use_spot: bool | None, log_path: Path
) -> bool:
    """Launch the replica's cluster and start its job (detached); True when it was submitted."""
    args = ["launch", "-y", "-d", "-c", cluster, str(task_file)]
    args += ["--env", f"SKYPILOT_SERVE_REPLICA_ID={replica_id}"]
    if use_spot is not None:
        args.append("--use-spot" if use_spot else "--no-use-spot")
    return await run_stix(args, log_path) == 0


async def teardown(cluster: str, log_path: Path, purge: bool = False) -> bool:
    """Remove the replica's cluster; True when it is gone (or never existed)."""
    if not await asyncio.to_thread(exists, cluster):
        return True
    args = ["down", "-y", cluster, *(["--purge"] if purge else [])]
    code = await run_stix(args, log_path)
    return code == 0 or not await asyncio.to_thread(exists, cluster)


def exists(cluster: str) -> bool:
    from stix.state.clusters import ClusterStore

    return ClusterStore().get(cluster) is not None


def address(cluster: str) -> tuple[str, str]:
    """(head IP, infra text) of an UP replica cluster."""
    from stix.state.clusters import ClusterStore

    record = ClusterStore().get(cluster)
    if record is None or not record.handle or not record.handle.get("ips"):
        raise LookupError(f"replica cluster {cluster} has no address")
    infra = "/".join(p for p in (record.cloud, record.region, record.zone) if p)
    return record.handle["ips"][0], infra


def health(cluster: str) -> tuple[str, str] | None:
    """None while the replica's cluster and job are alive; else (end state, why).

    A cluster the cloud no longer has (or has stopped) was preempted; a job that ended
    means the service's own process failed. A cluster that looks unhealthy only for the
    moment (INIT) gives no verdict.
    """
    from stix import sdk
    from stix.errors import StixError

    try:
        records = sdk.status([cluster], refresh=True)
    except StixError:
        return None  # the cloud did not answer: judge again later
    if not records:
        return states.PREEMPTED, f"cluster {cluster} is gone"
    if records[0].status == "STOPPED":
        return states.PREEMPTED, f"cluster {cluster} is STOPPED"
    if records[0].status != "UP":
        return None  # INIT: its agent did not answer this time (a busy node); judge later
    try:
        jobs = sdk.queue(cluster)
    except StixError:
        return None
    if jobs and jobs[0].get("status") in ENDED_JOB:
        return states.FAILED, f"job {jobs[0].get('job_id')} ended {jobs[0].get('status')}"
    return None
