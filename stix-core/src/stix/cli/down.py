"""``stix down``: tear clusters down (nodes, disks and processes removed)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from stix.cli.params import COUNT


def resolve_clusters(patterns: tuple[str, ...], all_clusters: bool) -> list[str]:
    """Cluster names matching ``patterns`` (globs), or every cluster with ``--all``."""
    import fnmatch

    from stix.errors import ClusterError
    from stix.sdk.clusters import status

    known = [r.name for r in status()]
    if all_clusters:
        return known
    if not patterns:
        raise click.UsageError("name at least one cluster, or pass --all")
    names = []
    for pattern in patterns:
        found = [n for n in known if fnmatch.fnmatchcase(n, pattern)]
        if not found:
            raise ClusterError(f"cluster {pattern!r} does not exist", hint="see: stix status")
        names += [n for n in found if n not in names]
    return names


def skip_guarded(names: list[str], action: str) -> list[str]:
    """``--all`` leaves out clusters a plugin still depends on (named explicitly, they fail)."""
    from stix.plugins import get_registry

    registry = get_registry()
    kept = []
    for name in names:
        reason = registry.teardown_refusal(name, action)
        if reason:
            click.echo(f"Skipping cluster {name}: {reason}", err=True)
        else:
            kept.append(name)
    return kept


def confirm(action: str, names: list[str], yes: bool) -> None:
    """Ask before acting on clusters unless ``--yes`` (or stdin is not a terminal)."""
    if yes or not sys.stdin.isatty():
        return
    click.confirm(f"{action} cluster(s) {', '.join(names)}?", default=True, abort=True)


def for_each(names: list[str], verb: str, fn: Callable[[str], Any]) -> None:
    """Apply ``fn`` to every cluster, reporting each; fail at the end if any failed."""
    from stix.errors import StixError

    failed = []
    for name in names:
        try:
            fn(name)
            click.echo(f"Cluster {name} {verb}.", err=True)
        except StixError as exc:
            failed.append(name)
            text = exc.message if repr(name) in exc.message else f"cluster {name}: {exc.message}"
            click.echo(f"Error: {text}", err=True)
            if exc.hint:
                click.echo(f"Hint: {exc.hint}", err=True)
    if failed:
        raise SystemExit(1)


@click.command()
@click.argument("clusters", nargs=-1)
@click.option("--all", "-a", "all_clusters", is_flag=True, help="Every cluster.")
@click.option("--all-users", "-u", is_flag=True, help="Accepted for compatibility.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--purge", "-p", is_flag=True, help="Forget the cluster even if teardown fails.")
@click.option("--graceful", is_flag=True, hidden=True)
@click.option("--graceful-timeout", type=COUNT, hidden=True)
def down(
    clusters: tuple[str, ...],
    all_clusters: bool,
    all_users: bool,
    yes: bool,
    purge: bool,
    graceful: bool,
    graceful_timeout: int | None,
) -> None:
    """Tear down CLUSTERS (globs accepted).

    \b
    Examples:
        stix down dev
        stix down -a -y
    """
    from stix.sdk.clusters import down as sdk_down

    names = resolve_clusters(clusters, all_clusters)
    if all_clusters and not purge:
        names = skip_guarded(names, "down")
    confirm("Tear down", names, yes)
    for_each(names, "terminated", lambda n: sdk_down(n, purge=purge))
