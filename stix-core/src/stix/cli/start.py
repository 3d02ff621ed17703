"""``stix start``: restart stopped clusters in the same place."""

from __future__ import annotations

import click

from stix.cli.down import confirm, for_each, resolve_clusters
from stix.cli.params import MINUTES


@click.command()
@click.argument("clusters", nargs=-1)
@click.option("--all", "-a", "all_clusters", is_flag=True, help="Every cluster.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--idle-minutes-to-autostop", "-i", type=MINUTES, help="Then stop after N idle minutes."
)
@click.option("--down", is_flag=True, help="Tear down instead of stopping when idle.")
@click.option("--retry-until-up", "-r", is_flag=True, help="Accepted; start never fails over.")
@click.option("--force", "-f", is_flag=True, help="Restart the runtime even if UP.")
@click.option("--wait-for", type=click.Choice(["jobs_and_ssh", "jobs", "none"]), hidden=True)
def start(
    clusters: tuple[str, ...],
    all_clusters: bool,
    yes: bool,
    idle_minutes_to_autostop: float | None,
    down: bool,
    retry_until_up: bool,
    force: bool,
    wait_for: str | None,
) -> None:
    """Start CLUSTERS (globs accepted).

    \b
    Examples:
        stix start dev
        stix start dev -i 30
    """
    from stix.sdk.clusters import start as sdk_start

    names = resolve_clusters(clusters, all_clusters)
    confirm("Start", names, yes)
    for_each(
        names,
        "started",
        lambda n: sdk_start(
            n, idle_minutes_to_autostop=idle_minutes_to_autostop, down=down, force=force
        ),
    )
