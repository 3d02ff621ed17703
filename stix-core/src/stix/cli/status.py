"""``stix status``: clusters on this machine's state DB (fast: no optimizer, no catalog)."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from stix.table import format_table


def ago(stamp: float | None) -> str:
    """``3 mins ago`` style age of a timestamp."""
    if not stamp:
        return "-"
    secs = max(0, time.time() - stamp)
    for size, unit in ((86400, "day"), (3600, "hr"), (60, "min")):
        if secs >= size:
            n = int(secs // size)
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return "just now"


def duration(seconds: float | None) -> str:
    """``1h 2m 3s`` style duration."""
    if seconds is None:
        return "-"
    secs = int(seconds)
    hours, rest = divmod(secs, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def colour_status(text: str) -> str:
    """Colour a status word when stdout is a terminal."""
    import sys

    if not sys.stdout.isatty():
        return text
    colours = {"UP": "green", "SUCCEEDED": "green", "RUNNING": "green", "STOPPED": "yellow",
               "INIT": "blue", "PENDING": "blue", "SETTING_UP": "blue"}  # fmt: skip
    colour = colours.get(text, "red" if "FAIL" in text or text == "CANCELLED" else None)
    return click.style(text, fg=colour) if colour else text


def _autostop(record: Any) -> str:
    if record.autostop_minutes is None or record.autostop_minutes < 0:
        return "-"
    text = f"{record.autostop_minutes:g}m"
    return text + " (down)" if record.autostop_down else text


def _report_missing(patterns: tuple[str, ...], names: list[str]) -> None:
    """Name the requested clusters (or globs) that matched nothing, on stderr."""
    from fnmatch import fnmatchcase

    missing = [p for p in patterns if not any(fnmatchcase(n, p) for n in names)]
    if missing:
        click.echo(f"Cluster(s) not found: {', '.join(missing)}.", err=True)


@click.command()
@click.argument("clusters", nargs=-1)
@click.option("--refresh", "-r", is_flag=True, help="Ask the clouds for the live state first.")
@click.option("--all", "-a", "show_all", is_flag=True, help="Show every column.")
@click.option("--verbose", "-v", is_flag=True, help="Also show head IP and last command.")
@click.option("--ip", is_flag=True, help="Print only the head node's IP of one cluster.")
@click.option("--all-users", "-u", is_flag=True, help="Accepted for compatibility.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table")
def status(
    clusters: tuple[str, ...],
    refresh: bool,
    show_all: bool,
    verbose: bool,
    ip: bool,
    all_users: bool,
    as_json: bool,
    output: str,
) -> None:
    """Show clusters (name globs accepted).

    \b
    Examples:
        stix status
        stix status --refresh 'dev*'
        stix status --json
    """
    from stix.sdk.clusters import status as sdk_status

    records = sdk_status(list(clusters) or None, refresh=refresh)
    _report_missing(clusters, [r.name for r in records])
    if ip:
        if len(records) != 1:
            raise click.UsageError("--ip needs exactly one cluster")
        handle = records[0].handle or {}
        click.echo((handle.get("ips") or ["-"])[0])
        return
    if as_json or output == "json":
        click.echo(json.dumps([r.as_dict() for r in records], indent=2))
        return
    if not records:
        click.echo("No existing clusters.", err=True)
        return
    headers = ["NAME", "INFRA", "RESOURCES", "STATUS", "AUTOSTOP", "LAUNCHED"]
    if verbose or show_all:
        headers += ["HEAD_IP", "COMMAND"]
    rows = []
    for r in records:
        infra = "/".join(p for p in (r.cloud, r.region, r.zone) if p) or "-"
        row = [
            r.name,
            infra,
            r.resources or "-",
            colour_status(r.status),
            _autostop(r),
            ago(r.launched_at),
        ]
        if verbose or show_all:
            row += [((r.handle or {}).get("ips") or ["-"])[0], r.last_command or "-"]
        rows.append(row)
    click.echo(format_table(rows, headers))
