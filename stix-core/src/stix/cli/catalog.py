"""``stix catalog``: update, import and list the price catalogs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


@click.group()
def catalog() -> None:
    """Price and offer catalogs under $STIX_HOME/catalogs.

    \b
    Examples:
        stix catalog import --format skypilot ~/skypilot-catalog/catalogs/v8
        stix catalog update gcp
        stix catalog ls
    """


@catalog.command("update")
@click.argument("cloud", required=False)
def update(cloud: str | None) -> None:
    """Refresh CLOUD's catalog (default: every installed cloud) from its plugin.

    \b
    Example:
        stix catalog update gcp
    """
    from stix.catalog import files
    from stix.catalog.query import Catalog
    from stix.errors import CatalogError
    from stix.plugins import get_registry

    sources = get_registry().catalog_sources()
    if cloud is not None:
        cloud = cloud.lower()
        if cloud not in sources:
            raise CatalogError(
                f"catalog update: no installed plugin provides a catalog for {cloud!r}",
                hint=f"pip install stix-{cloud}, or import one: stix catalog import --format skypilot DIR",
            )
        names = [cloud]
    else:
        names = sorted(sources)
        if not names:
            raise CatalogError(
                "catalog update: no installed plugin provides a catalog",
                hint="import one: stix catalog import --format skypilot DIR",
            )
    for name in names:
        folder = files.update(name, sources[name])
        click.echo(f"updated {name}: {folder}", err=True)
    counts = Catalog().row_counts()
    for name in names:
        click.echo(f"{name}\t{counts.get(name, 0)} rows")


@catalog.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--format", "fmt", type=click.Choice(["skypilot"]), default="skypilot", show_default=True
)
@click.option("--cloud", help="Import only this cloud (or name a single cloud's folder).")
def import_(directory: str, fmt: str, cloud: str | None) -> None:
    """Import a SkyPilot v8 catalog folder (per-cloud sub-folders and common/).

    \b
    Examples:
        stix catalog import --format skypilot skypilot-catalog/catalogs/v8
        stix catalog import --cloud lambda skypilot-catalog/catalogs/v8/lambda
    """
    from stix.catalog import files
    from stix.catalog.query import Catalog

    done = files.import_skypilot(Path(directory), cloud.lower() if cloud else None)
    counts = Catalog().row_counts()
    for name in sorted(done):
        click.echo(f"{name}\t{counts.get(name, 0)} rows")


@catalog.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def ls(as_json: bool) -> None:
    """List catalogs: rows, age, source and whether the cloud's plugin is installed.

    \b
    Example:
        stix catalog ls --json
    """
    from stix.catalog import files
    from stix.catalog.query import Catalog
    from stix.plugins import get_registry
    from stix.table import table_lines

    registry = get_registry()
    installed = set(registry.clouds())
    seeds = files.seed_folders(registry)
    cat = Catalog(seeds=seeds)
    counts = cat.row_counts()
    limit = files.stale_hours()
    entries: list[dict[str, Any]] = []
    for name in cat.clouds:
        folder = cat.folders[name]
        age = files.age_hours(folder)
        meta = files.read_meta(folder)
        entries.append(
            {
                "cloud": name,
                "rows": counts.get(name, 0),
                "age_hours": None if age is None else round(age, 1),
                "stale": age is not None and age > limit,
                "source": meta.get("source")
                or ("seed" if name in seeds and name not in files.installed() else "?"),
                "plugin_installed": name in installed,
            }
        )
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    if not entries:
        click.echo("no catalogs; run: stix catalog import --format skypilot DIR", err=True)
        return
    rows = []
    for e in entries:
        hours = e["age_hours"]
        stale = " (stale)" if e["stale"] else ""
        age_text = files.age_text(hours) + stale if isinstance(hours, float) else "-"
        plugin = "installed" if e["plugin_installed"] else f"pip install stix-{e['cloud']}"
        rows.append([e["cloud"], str(e["rows"]), age_text, plugin, str(e["source"])])
    click.echo("\n".join(table_lines(rows, ("CLOUD", "ROWS", "AGE", "PLUGIN", "SOURCE"))))


__all__ = ["catalog"]
