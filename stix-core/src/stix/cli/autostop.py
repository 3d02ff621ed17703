"""``stix autostop``: stop (or tear down) clusters after some idle minutes."""

from __future__ import annotations

import click

from stix.cli.down import confirm, for_each, resolve_clusters
from stix.cli.params import MINUTES


@click.command()
@click.argument("clusters", nargs=-1)
@click.option("--all", "-a", "all_clusters", is_flag=True, help="Every cluster.")
@click.option("--all-users", "-u", is_flag=True, help="Accepted for compatibility.")
@click.option(
    "--idle-minutes",
    "-i",
    type=MINUTES,
    default=None,
    help="Idle minutes (default 5; fractions allowed).",
)
@click.option("--cancel", is_flag=True, help="Turn autostop off.")
@click.option("--down", is_flag=True, help="Tear down instead of stopping.")
@click.option("--wait-for", type=click.Choice(["jobs_and_ssh", "jobs", "none"]), hidden=True)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def autostop(
    clusters: tuple[str, ...],
    all_clusters: bool,
    all_users: bool,
    idle_minutes: float | None,
    cancel: bool,
    down: bool,
    wait_for: str | None,
    yes: bool,
) -> None:
    """Schedule autostop (or autodown) on CLUSTERS.

    \b
    Examples:
        stix autostop dev -i 30
        stix autostop dev -i 10 --down
        stix autostop dev --cancel
    """
    from stix.sdk.clusters import autostop as sdk_autostop

    names = resolve_clusters(clusters, all_clusters)
    confirm("Set autostop on", names, yes)
    minutes = 5.0 if idle_minutes is None else idle_minutes
    cancel = cancel or minutes < 0  # -i -1 turns autostop off, as in SkyPilot
    verb = (
        "autostop cancelled"
        if cancel
        else f"will {'tear down' if down else 'stop'} after {minutes:g} idle min"
    )
    for_each(names, verb, lambda n: sdk_autostop(n, minutes, down=down, cancel=cancel))
