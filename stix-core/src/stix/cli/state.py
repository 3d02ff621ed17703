"""``stix state``: where STIX keeps its state, and ``recover`` to rebuild a damaged one."""

from __future__ import annotations

import click


@click.group()
def state() -> None:
    """The state database ($STIX_HOME/state.db): show it, or recover it after damage.

    \b
    Examples:
        stix state path
        stix state recover
    """


@state.command()
def path() -> None:
    """Print where the state database lives.

    \b
    Examples:
        stix state path
    """
    from stix.state.db import state_path

    click.echo(str(state_path()))


@state.command()
def recover() -> None:
    """Rebuild the cluster list from live agents and the clouds' own records.

    A damaged state.db is moved aside as state.db.damaged-<time> (never overwritten),
    the rows it still holds are copied into a fresh database, and every cluster a cloud
    lists (local sandboxes, ssh pool allocations, tagged cloud nodes) is added back.

    \b
    Examples:
        stix state recover
    """
    from stix.state.recover import recover as run_recover

    report = run_recover()
    if report.damaged_copy:
        click.echo(f"{report.path} was damaged ({report.problem})", err=True)
        click.echo(f"kept the damaged file as {report.damaged_copy}", err=True)
        rows = ", ".join(f"{n} {t}" for t, n in report.salvaged.items() if n) or "no rows"
        click.echo(f"salvaged {rows}", err=True)
    else:
        click.echo(f"{report.path} is intact", err=True)
    for name in report.found:
        click.echo(f"recovered cluster {name}")
    for line in report.queues:
        name, _, kept = line.partition(": ")
        click.echo(f"cluster {name}: damaged job database kept as {kept}; new queue", err=True)
    for line in report.skipped:
        click.echo(f"skipped {line}", err=True)
    if not report.found:
        click.echo("no cluster was missing from the state database", err=True)
