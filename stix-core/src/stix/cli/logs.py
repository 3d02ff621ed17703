"""``stix logs``: print or follow a job's log; ``--status`` only reports how it ended."""

from __future__ import annotations

import click

from stix.cli.params import COUNT, JOB_ID


@click.command()
@click.argument("cluster")
@click.argument("job_ids", nargs=-1, type=JOB_ID)
@click.option("--follow/--no-follow", default=True, help="Keep streaming until the job ends.")
@click.option("--status", "status_only", is_flag=True, help="Exit 0 iff the job SUCCEEDED.")
@click.option("--tail", type=COUNT, default=0, help="Only the last N lines (0: all).")
@click.option("--sync-down", "-s", is_flag=True, help="Copy the job's log folder here.")
def logs(
    cluster: str,
    job_ids: tuple[int, ...],
    follow: bool,
    status_only: bool,
    tail: int,
    sync_down: bool,
) -> None:
    """Show the log of a job (default: the latest) on CLUSTER.

    \b
    Examples:
        stix logs dev
        stix logs dev 3 --no-follow
        stix logs dev 3 --status
    """
    from stix.cli.exec import exit_code
    from stix.sdk import jobs

    job_id = job_ids[0] if job_ids else None
    if status_only:
        if job_id is None:
            rows = jobs.queue(cluster)
            job_id = rows[0]["job_id"] if rows else None
        state = jobs.job_status(cluster, [job_id]).get(job_id) if job_id is not None else None
        if state is None:
            what = f"job {job_id} does not exist" if job_id is not None else "it has no jobs"
            click.echo(f"Error: cluster {cluster}: {what}", err=True)
        else:
            click.echo(f"Job {job_id}: {state}")
        raise SystemExit(exit_code(state))
    if sync_down:
        _sync_down(cluster, job_id)
        return
    code = 0
    for one in job_ids or (None,):
        _, state = jobs.tail_logs(cluster, one, follow=follow, tail=tail)
        if state is None:
            if one is None:
                click.echo(f"Cluster {cluster} has no jobs yet.", err=True)
                return
            from stix.errors import JobError

            raise JobError(
                f"cluster {cluster}: job {one} does not exist", hint=f"stix queue {cluster}"
            )
        if follow and state != "SUCCEEDED":
            code = code or exit_code(state)
    if code:
        raise SystemExit(code)


def _sync_down(cluster: str, job_id: int | None) -> None:
    import shutil
    from pathlib import Path

    from stix.errors import StixError
    from stix.sdk import jobs

    rows = jobs.queue(cluster)
    row = next((r for r in rows if job_id is None or r["job_id"] == job_id), None)
    if row is None or not row.get("log_dir"):
        raise StixError(f"cluster {cluster}: no job {job_id if job_id is not None else ''} to sync")
    source = Path(row["log_dir"])
    if not source.is_dir():
        raise StixError(
            f"cluster {cluster}: log folder of job {row['job_id']} is not reachable here"
        )
    dest = Path.home() / "sky_logs" / cluster / source.name
    shutil.copytree(source, dest, dirs_exist_ok=True)
    from stix.agent import mergedlog

    if mergedlog.is_merged(str(dest)):  # several ranks: run.log is the merged view here
        merged = dest / "run.log.merged"
        mergedlog.write_merged(str(dest), str(merged))
        merged.replace(dest / "run.log")
        for name in (mergedlog.INDEX, mergedlog.SOURCES):
            (dest / name).unlink()
    click.echo(str(dest))
