"""``stix cost-report``: estimated cost of clusters launched recently."""

from __future__ import annotations

import json
import time

import click

from stix.cli.params import DAYS
from stix.cli.status import duration, format_table


@click.command(name="cost-report")
@click.option("--all", "-a", "show_all", is_flag=True, help="Include every cluster ever launched.")
@click.option("--days", type=DAYS, default=30, show_default=True, help="Look back this many days.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table")
def cost_report(show_all: bool, days: float, as_json: bool, output: str) -> None:
    """Show clusters' durations and estimated costs.

    \b
    Examples:
        stix cost-report
        stix cost-report --days 7 --json
    """
    from stix.sdk.clusters import cost_report as sdk_cost_report

    rows = sdk_cost_report(None if show_all else days)
    if as_json or output == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No clusters in the report period.", err=True)
        return
    table = [
        [
            r["name"],
            time.strftime("%Y-%m-%d %H:%M", time.localtime(r["launched_at"])),
            duration(r["duration_s"]),
            r["resources"] or "-",
            r["status"],
            f"$ {r['hourly_cost']:.2f}",
            f"$ {r['cost']:.2f}",
        ]
        for r in rows
    ]
    headers = ["NAME", "LAUNCHED", "DURATION", "RESOURCES", "STATUS", "COST/hr", "COST (est.)"]
    click.echo(format_table(table, headers))
    total = sum(r["cost"] for r in rows)
    click.echo(f"\nTotal: $ {total:.2f}")
