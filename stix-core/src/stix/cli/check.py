"""``stix check``: can each installed cloud be used, and if not, how to fix it."""

from __future__ import annotations

import json

import click


@click.command()
@click.argument("infra", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option("-v", "--verbose", is_flag=True, help="Show the cloud's features too.")
def check(infra: tuple[str, ...], as_json: bool, verbose: bool) -> None:
    """Check credentials of every installed cloud (or only those named).

    Exits with 1 when a named cloud is not usable.

    \b
    Examples:
        stix check
        stix check local aws
    """
    from stix.errors import StixError
    from stix.interfaces import CheckResult
    from stix.plugins import get_registry

    registry = get_registry()
    wanted = [name.split("/")[0].lower() for name in infra]
    clouds = {name: registry.cloud(name) for name in wanted} if wanted else registry.clouds()
    results: dict[str, CheckResult] = {}
    for name, cloud in clouds.items():
        try:
            results[name] = cloud.check()
        except Exception as exc:  # a cloud's check must not break the others
            results[name] = CheckResult(False, f"check failed: {exc}")
    if as_json:
        click.echo(
            json.dumps(
                {n: {"ok": r.ok, "detail": r.detail, "hint": r.hint} for n, r in results.items()},
                indent=2,
            )
        )
    else:
        for name, result in results.items():
            mark = (
                click.style("enabled", fg="green")
                if result.ok
                else click.style("disabled", fg="red")
            )
            click.echo(f"  {name}: {mark}" + (f" - {result.detail}" if result.detail else ""))
            if verbose:
                features = ", ".join(sorted(clouds[name].features)) or "none"
                click.echo(f"      features: {features}")
            if not result.ok and result.hint:
                click.echo(f"      fix: {result.hint}")
        enabled = [n for n, r in results.items() if r.ok]
        click.echo(f"\nEnabled clouds: {', '.join(enabled) or 'none'}")
    if wanted and not all(r.ok for r in results.values()):
        raise StixError("not every cloud named is usable; see above")
