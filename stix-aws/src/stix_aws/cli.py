"""``stix storage ls`` and ``stix storage delete`` for S3 buckets (imports only click here)."""

from __future__ import annotations

import json
from typing import Any

import click


@click.command("ls")
@click.option("--all", "show_all", is_flag=True, help="Also list buckets STIX did not create.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def storage_ls(show_all: bool, as_json: bool) -> None:
    """List S3 buckets created by STIX."""
    from stix_aws.store import S3Store

    found = S3Store().buckets(managed_only=not show_all)
    if as_json:
        click.echo(json.dumps([_row(b) for b in found], indent=2))
        return
    if not found:
        click.echo("No S3 buckets created by STIX." if not show_all else "No S3 buckets.")
        return
    width = max(len("NAME"), *(len(b.name) for b in found))
    click.echo(f"{'NAME':<{width}}  {'CREATED':<25}  {'STORE':<5}  {'REGION':<14}  MANAGED")
    for b in found:
        click.echo(
            f"{b.name:<{width}}  {b.created:<25}  {'S3':<5}  {b.region:<14}  {'yes' if b.managed else 'no'}"
        )


def _row(bucket: Any) -> dict[str, Any]:
    return {
        "name": bucket.name,
        "created": bucket.created,
        "region": bucket.region,
        "managed": bucket.managed,
    }


@click.command("delete")
@click.argument("names", nargs=-1)
@click.option("--all", "delete_all", is_flag=True, help="Delete every bucket STIX created.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def storage_delete(names: tuple[str, ...], delete_all: bool, yes: bool) -> None:
    """Delete S3 buckets created by STIX, with everything in them."""
    from stix.errors import StixError

    from stix_aws.store import S3Store, split_url

    store = S3Store()
    if delete_all:
        targets = [b.name for b in store.buckets(managed_only=True)]
    else:
        targets = [split_url(n)[0] if n.startswith("s3://") else n for n in names]
    if not targets:
        raise StixError("storage delete: name a bucket, or pass --all", hint="see: stix storage ls")
    for name in targets:
        if not store.exists(name):
            raise StixError(f"storage delete: bucket {name!r} does not exist")
        if not store.is_managed(name):
            raise StixError(
                f"storage delete: bucket {name!r} was not created by STIX; delete it with the AWS console or CLI"
            )
    if not yes:
        click.confirm(
            f"Delete {len(targets)} bucket(s) and all their objects: {', '.join(targets)}?",
            abort=True,
            err=True,
        )
    for name in targets:
        store.delete(name)
        click.echo(f"Deleted s3://{name}", err=True)


def add_storage_commands(cli: click.Group) -> None:
    """Add ``ls``/``delete`` to the ``storage`` group (created when no other plugin made it)."""
    group = cli.commands.get("storage")
    if not isinstance(group, click.Group):
        group = click.Group("storage", help="Buckets created for storage objects and file_mounts.")
        cli.add_command(group)
    for command in (storage_ls, storage_delete):
        if command.name not in group.commands:
            group.add_command(command)
