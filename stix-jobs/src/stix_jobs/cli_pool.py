"""``stix jobs pool``: warm workers that managed jobs run on without provisioning."""

from __future__ import annotations

import json
from typing import Any

import click
from stix.cli.task_options import task_options


@click.group()
def pool() -> None:
    """Pools of warm workers for managed jobs.

    \b
    Examples:
        stix jobs pool apply -p workers pool.yaml
        stix jobs launch --pool workers job.yaml
        stix jobs pool status
        stix jobs pool down workers
    """


@pool.command()
@click.argument("entrypoint", nargs=-1)
@click.option("--pool", "-p", "pool_name", required=True, help="Pool name.")
@click.option("--workers", type=click.IntRange(0), help="Number of workers (overrides YAML).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@task_options
def apply(entrypoint: tuple[str, ...], pool_name: str, workers: int | None, **kwargs: Any) -> None:
    """Create a pool from a YAML with a ``pool:`` section, or resize it."""
    from stix.cli.task_options import load_entrypoint

    from stix_jobs import sdk

    dag = load_entrypoint(entrypoint, kwargs, yes=True)
    reply = sdk.pool_apply(dag, pool_name, workers=workers)
    click.echo(f"Pool {reply['pool']}: {reply['workers']} worker(s) requested.", err=True)


@pool.command()
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the pools as JSON.")
def status(names: tuple[str, ...], as_json: bool) -> None:
    """Show pools and their workers."""
    from stix.table import format_table

    from stix_jobs import sdk

    pools = sdk.pool_status(list(names))
    if as_json:
        click.echo(json.dumps(pools))
        return
    if not pools:
        click.echo("No pools.")
        return
    rows = []
    for p in pools:
        for w in p["worker_list"] or [{}]:
            rows.append(
                [
                    p["name"],
                    p["status"],
                    p["workers"],
                    w.get("worker_id", "-"),
                    w.get("cluster", "-"),
                    w.get("status", "-"),
                    w.get("busy", 0),
                ]
            )
    headers = ["POOL", "STATUS", "WORKERS", "ID", "CLUSTER", "WORKER STATUS", "JOBS"]
    click.echo(format_table(rows, headers))


@pool.command()
@click.argument("names", nargs=-1)
@click.option("--all", "-a", "down_all", is_flag=True, help="Every pool.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def down(names: tuple[str, ...], down_all: bool, yes: bool) -> None:
    """Remove pools (running jobs finish first; queued jobs fail)."""
    from stix.errors import JobError

    from stix_jobs import sdk

    if not names and not down_all:
        raise JobError("name the pools to remove, or use --all")
    done = sdk.pool_down(list(names), all=down_all)
    click.echo(f"Removing pool(s): {', '.join(done) or 'none'}", err=True)
