"""``stix queue``: the job queue of one or more clusters."""

from __future__ import annotations

import json
import time

import click

from stix.cli.status import ago, colour_status, duration, format_table


@click.command()
@click.argument("clusters", nargs=-1)
@click.option("--skip-finished", "-s", is_flag=True, help="Only pending and running jobs.")
@click.option("--all-users", "-u", is_flag=True, help="Accepted for compatibility.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table")
def queue(
    clusters: tuple[str, ...], skip_finished: bool, all_users: bool, as_json: bool, output: str
) -> None:
    """Show the jobs of clusters (default: every UP cluster).

    \b
    Examples:
        stix queue dev
        stix queue -s --json dev
    """
    from stix.sdk.clusters import status
    from stix.sdk.jobs import queue as sdk_queue

    names = list(clusters) or [r.name for r in status() if r.status == "UP"]
    result = {name: sdk_queue(name, skip_finished=skip_finished) for name in names}
    if as_json or output == "json":
        click.echo(json.dumps(result if len(names) != 1 else result[names[0]], indent=2))
        return
    now = time.time()
    for name, jobs in result.items():
        click.echo(f"Job queue of cluster {name}")
        rows = []
        for j in jobs:
            end = j.get("end_at") or now
            rows.append(
                [
                    j["job_id"],
                    j.get("name") or "-",
                    j.get("user") or "-",
                    ago(j.get("submitted_at")),
                    ago(j.get("start_at")),
                    duration(end - j["start_at"]) if j.get("start_at") else "-",
                    j.get("resources") or "-",
                    colour_status(j["status"]),
                ]
            )
        headers = ["ID", "NAME", "USER", "SUBMITTED", "STARTED", "DURATION", "RESOURCES", "STATUS"]
        click.echo(format_table(rows, headers) if rows else "No jobs.")
