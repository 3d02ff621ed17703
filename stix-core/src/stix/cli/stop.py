"""``stix stop``: stop clusters, keeping their disks."""

from __future__ import annotations

import click

from stix.cli.down import confirm, for_each, resolve_clusters, skip_guarded
from stix.cli.params import COUNT


@click.command()
@click.argument("clusters", nargs=-1)
@click.option("--all", "-a", "all_clusters", is_flag=True, help="Every cluster.")
@click.option("--all-users", "-u", is_flag=True, help="Accepted for compatibility.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--graceful", is_flag=True, hidden=True)
@click.option("--graceful-timeout", type=COUNT, hidden=True)
def stop(
    clusters: tuple[str, ...],
    all_clusters: bool,
    all_users: bool,
    yes: bool,
    graceful: bool,
    graceful_timeout: int | None,
) -> None:
    """Stop CLUSTERS (globs accepted); restart them with stix start.

    \b
    Examples:
        stix stop dev
        stix stop -a -y
    """
    from stix.sdk.clusters import stop as sdk_stop

    names = resolve_clusters(clusters, all_clusters)
    if all_clusters:
        names = skip_guarded(names, "stop")
    confirm("Stop", names, yes)
    for_each(names, "stopped", sdk_stop)
