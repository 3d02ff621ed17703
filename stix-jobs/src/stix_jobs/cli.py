"""``stix jobs``: managed jobs (launch, queue, cancel, logs) and pools, over :mod:`stix_jobs.sdk`."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click
from stix.cli.task_options import task_options


@click.group()
def jobs() -> None:
    """Managed jobs: run tasks that recover from preemption and failures.

    \b
    Examples:
        stix jobs launch -n train --use-spot train.yaml
        stix jobs queue
        stix jobs logs 1
        stix jobs cancel 1
    """


@jobs.command()
@click.argument("entrypoint", nargs=-1)
@click.option("--pool", "-p", help="Run on the warm workers of this pool.")
@click.option("--num-jobs", type=int, default=1, show_default=True, help="Submit N copies.")
@click.option("--priority", type=click.IntRange(-1000, 1000), default=0, help="Higher runs first.")
@click.option("--detach-run", "-d", is_flag=True, help="Return once the job is submitted.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@task_options
def launch(entrypoint: tuple[str, ...], **kwargs: Any) -> None:
    """Launch a managed job (a task or a pipeline YAML, or an inline command).

    \b
    Examples:
        stix jobs launch -n train --use-spot train.yaml
        stix jobs launch --pool workers --num-jobs 100 -d job.yaml
    """
    from stix.cli.task_options import load_entrypoint

    from stix_jobs import sdk

    dag = load_entrypoint(entrypoint, kwargs, yes=kwargs["yes"])
    if not kwargs["yes"] and sys.stdin.isatty():
        click.confirm("Launching a managed job. Proceed?", default=True, abort=True)
    ids = sdk.launch(
        dag,
        name=kwargs["name"],
        pool=kwargs["pool"],
        num_jobs=kwargs["num_jobs"],
        priority=kwargs["priority"],
    )
    shown = ", ".join(map(str, ids[:10])) + (" ..." if len(ids) > 10 else "")
    click.echo(f"Managed job{'s' if len(ids) > 1 else ''} submitted, ID: {shown}", err=True)
    if kwargs["detach_run"]:
        click.echo(f"  Logs:   stix jobs logs {ids[0]}", err=True)
        click.echo("  Status: stix jobs queue", err=True)
        return
    status = sdk.logs(ids[0], follow=True)
    click.echo(f"Managed job {ids[0]} ended: {status}", err=True)
    if status != "SUCCEEDED":
        sys.exit(1)


def _duration(start: float | None, end: float | None) -> str:
    from stix.cli.status import duration

    if not start:
        return "-"
    return duration((end or time.time()) - start)


def _rows(rows: list[dict[str, Any]]) -> list[list[Any]]:
    from stix.cli.status import ago

    out = []
    for r in rows:
        task = f"{r['current_task'] + 1}/{r['num_tasks']}" if r["num_tasks"] > 1 else "-"
        where = r["infra"] or "-"
        if r["pool"]:
            where = f"{r['pool']}:{r['worker'] or '-'}"
        status = r["status"]
        if r["reason"] and status not in ("SUCCEEDED", "CANCELLED"):
            status += f" ({r['reason']})"
        out.append(
            [
                r["job_id"],
                task,
                r["name"] or "-",
                r["resources"] or "-",
                ago(r["submitted_at"]),
                _duration(r["submitted_at"], r["ended_at"]),
                _duration(r["started_at"], r["ended_at"]),
                r["recoveries"] or 0,
                where,
                status,
            ]
        )
    return out


HEADERS = [
    "ID", "TASK", "NAME", "REQUESTED", "SUBMITTED", "TOT. DURATION", "JOB DURATION",
    "#RECOVERIES", "WHERE", "STATUS",
]  # fmt: skip


@jobs.command()
@click.option("--all", "-a", "show_all", is_flag=True, help="Every job (no row limit).")
@click.option("--skip-finished", "-s", is_flag=True, help="Only jobs still in progress.")
@click.option("--limit", "-l", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def queue(show_all: bool, skip_finished: bool, limit: int, as_json: bool) -> None:
    """List managed jobs, newest first."""
    from stix.table import format_table

    from stix_jobs import sdk

    rows = sdk.queue(all=show_all, skip_finished=skip_finished, limit=limit)
    if as_json:
        click.echo(json.dumps(rows))
        return
    if not rows:
        click.echo("No managed jobs.")
        return
    click.echo(format_table(_rows(rows), HEADERS))


@jobs.command()
@click.argument("job_ids", nargs=-1, type=int)
@click.option("--name", "-n", help="Cancel the jobs of this name.")
@click.option("--pool", "-p", help="Cancel the jobs of this pool.")
@click.option("--all", "-a", "cancel_all", is_flag=True, help="Cancel every managed job.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def cancel(
    job_ids: tuple[int, ...], name: str | None, pool: str | None, cancel_all: bool, yes: bool
) -> None:
    """Cancel managed jobs (by id, name, pool, or all)."""
    from stix.errors import JobError

    from stix_jobs import sdk

    if not (job_ids or name or pool or cancel_all):
        raise JobError("name the jobs to cancel: JOB_IDS, --name, --pool or --all")
    if not yes and sys.stdin.isatty():
        click.confirm("Cancel the managed job(s)?", default=True, abort=True)
    done = sdk.cancel(list(job_ids), name=name, pool=pool, all=cancel_all)
    if not done:
        click.echo("No managed job to cancel.", err=True)
        return
    click.echo(f"Cancelling managed job(s): {', '.join(map(str, done))}", err=True)


@jobs.command()
@click.argument("job_id", type=int, required=False)
@click.option("--follow/--no-follow", default=True, help="Keep streaming until the job ends.")
@click.option("--controller", is_flag=True, help="Print the controller's own log.")
def logs(job_id: int | None, follow: bool, controller: bool) -> None:
    """Print a managed job's log (default: the latest job); kept after the job ends."""
    from stix_jobs import sdk

    status = sdk.logs(job_id, follow=follow, controller=controller)
    if status is not None and not follow:
        click.echo(f"Status: {status}", err=True)
    if status is not None and status not in ("SUCCEEDED",) and follow:
        sys.exit(1)


from stix_jobs.cli_pool import pool  # noqa: E402  (a sub-group in its own module)

jobs.add_command(pool)
