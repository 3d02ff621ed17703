"""``stix plugins``: what is installed, what each plugin registers, and load errors."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def plugins(as_json: bool) -> None:
    """List installed plugins: name, distribution, version and what each registers.

    A plugin that failed to load is listed with its error and skipped.

    \b
    Example:
        stix plugins
        stix plugins --json | jq '.[].name'
    """
    from stix.cli.status import format_table
    from stix.plugins import get_registry

    records = get_registry().records()
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in records], indent=2))
        return
    rows = []
    for r in records:
        what = "; ".join(
            f"{kind}: {', '.join(names)}" for kind, names in r.registers.items() if names
        )
        if not what and r.hooks:
            what = "hooks: " + ", ".join(r.hooks)
        status = f"error: {r.error}" if r.error else ("built-in" if r.builtin else "ok")
        rows.append((r.name, r.distribution, r.version, what or "-", status))
    click.echo(format_table(rows, ("NAME", "DISTRIBUTION", "VERSION", "REGISTERS", "STATUS")))
