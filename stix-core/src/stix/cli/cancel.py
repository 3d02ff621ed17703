"""``stix cancel``: cancel jobs on a cluster (their processes on every node are killed)."""

from __future__ import annotations

import click

from stix.cli.params import JOB_ID


@click.command()
@click.argument("cluster")
@click.argument("job_ids", nargs=-1, type=JOB_ID)
@click.option("--all", "-a", "all_jobs", is_flag=True, help="Cancel every pending or running job.")
@click.option("--all-users", "-u", is_flag=True, help="Accepted for compatibility.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def cancel(
    cluster: str, job_ids: tuple[int, ...], all_jobs: bool, all_users: bool, yes: bool
) -> None:
    """Cancel JOB_IDS (or --all) on CLUSTER.

    \b
    Examples:
        stix cancel dev 3
        stix cancel dev --all
    """
    from stix.sdk.jobs import cancel as sdk_cancel

    if not job_ids and not all_jobs:
        raise click.UsageError("name job ids to cancel, or pass --all")
    done = sdk_cancel(cluster, list(job_ids), all=all_jobs)
    if done:
        click.echo(f"Cancelled job(s): {', '.join(map(str, done))}", err=True)
    else:
        click.echo("No jobs to cancel.", err=True)
