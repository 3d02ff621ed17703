"""``stix storage``: list and delete buckets recorded for storage objects."""

from __future__ import annotations

import json
import sys

import click


@click.group()
def storage() -> None:
    """Buckets created or used by storage objects in file_mounts.

    \b
    Examples:
        stix storage ls
        stix storage delete my-bucket -y
    """


@storage.command("ls")
@click.option("--all", "-a", "show_all", is_flag=True,
              help="Also ask the stores for buckets STIX created elsewhere.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def storage_ls(show_all: bool, as_json: bool) -> None:
    """List storage: NAME, UPDATED, STORE, CLUSTERS, PERSISTENT, STATUS.

    \b
    Example:
        stix storage ls --json
    """
    from stix.cli.status import ago, colour_status, format_table
    from stix.storage.lifecycle import listing

    records, untracked = listing(untracked=show_all)
    if as_json:
        rows = [r.as_dict() for r in records] + [u.as_dict() for u in untracked]
        click.echo(json.dumps(rows, indent=2))
        return
    if not records and not untracked:
        click.echo("No existing storage.", err=True)
        return
    table = [
        (
            r.name,
            ago(r.updated_at),
            r.store.upper(),
            ",".join(r.clusters) or "-",
            "yes" if r.persistent else "no",
            colour_status(r.status),
        )
        for r in records
    ]
    table += [(u.name, u.created or "-", u.store.upper(), "-", "-", "UNTRACKED") for u in untracked]
    headers = ("NAME", "UPDATED", "STORE", "CLUSTERS", "PERSISTENT", "STATUS")
    click.echo(format_table(table, headers))


@storage.command("delete")
@click.argument("names", nargs=-1)
@click.option("--all", "-a", "delete_all", is_flag=True, help="Delete every recorded storage.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def storage_delete(names: tuple[str, ...], delete_all: bool, yes: bool) -> None:
    """Delete storage NAME... (buckets STIX created are emptied and removed).

    NAME is a name from `stix storage ls` or a bucket URL (s3://bucket).

    \b
    Examples:
        stix storage delete my-bucket
        stix storage delete -a -y
    """
    from stix.errors import StixError
    from stix.storage.lifecycle import delete
    from stix.storage.state import StorageTable

    targets = [r.name for r in StorageTable().all()] if delete_all else list(names)
    if not targets:
        if delete_all:
            click.echo("No existing storage.", err=True)
            return
        raise click.UsageError("name at least one storage, or pass --all")
    if not yes and sys.stdin.isatty():
        click.confirm(
            f"Delete storage {', '.join(targets)} and everything in it?", default=True, abort=True
        )
    failed = 0
    for name in targets:
        try:
            click.echo(delete(name), err=True)
        except StixError as exc:
            failed += 1
            hint = f" ({exc.hint})" if exc.hint else ""
            click.echo(f"Error: {exc.message}{hint}", err=True)
    if failed:
        raise SystemExit(1)
