"""``stix serve``: up, status, update, down, logs. A thin layer over :mod:`stix_serve.sdk`."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click


def _env(values: tuple[str, ...]) -> dict[str, str]:
    import os

    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        out[key] = value if sep else os.environ.get(key, "")
    return out


@click.group()
def serve() -> None:
    """Serve a task as an HTTP endpoint: replicas behind a load balancer."""


@serve.command()
@click.argument("task_yaml", type=click.Path(dir_okay=False))
@click.option("--service-name", "-n", "name", help="Service name (default: the task's name).")
@click.option("--env", multiple=True, metavar="K[=V]", help="Env var for the replicas.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def up(task_yaml: str, name: str | None, env: tuple[str, ...], yes: bool) -> None:
    """Start a service from TASK_YAML (a task with a service: section); print its endpoint."""
    from stix_serve import sdk

    if not yes:
        click.confirm(f"Start a service from {task_yaml}?", default=True, abort=True)
    result = sdk.up(task_yaml, name, env=_env(env))
    click.echo(
        f"Service {result['name']} is starting; replicas come up in the background.", err=True
    )
    click.echo(f"  Status: stix serve status {result['name']}", err=True)
    click.echo(result["endpoint"])


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60}m"


def _since(when: float | None) -> str:
    return "-" if not when else f"{_age(time.time() - when)} ago"


def _render(services: list[dict[str, Any]], show_all: bool) -> str:
    from stix.table import format_table

    from stix_serve import states

    rows = []
    for s in services:
        ready = sum(1 for r in s["replicas"] if r["status"] == states.READY)
        live = sum(1 for r in s["replicas"] if r["status"] not in states.TERMINAL)
        rows.append(
            [
                s["name"],
                s["version"],
                _age(s["uptime_s"]),
                s["status"],
                f"{ready}/{live}",
                s["endpoint"],
            ]
        )
    out = [
        "Services",
        format_table(rows, ["NAME", "VERSION", "UPTIME", "STATUS", "REPLICAS", "ENDPOINT"]),
    ]
    replica_rows = []
    for s in services:
        for r in s["replicas"]:
            if not show_all and r["status"] in states.TERMINAL:
                continue
            spot = " [Spot]" if r["use_spot"] else ""
            replica_rows.append(
                [
                    s["name"],
                    r["replica_id"],
                    r["version"],
                    r["cluster"],
                    (r["infra"] or "-") + spot,
                    _since(r["launched_at"]),
                    r["status"],
                ]
            )
    out += [
        "",
        "Service Replicas",
        format_table(
            replica_rows,
            ["SERVICE_NAME", "ID", "VERSION", "CLUSTER", "INFRA", "LAUNCHED", "STATUS"],
        ),
    ]
    for s in services:
        if s.get("message"):
            out.append(f"{s['name']}: {s['message']}")
    return "\n".join(out)


@serve.command()
@click.argument("names", nargs=-1)
@click.option(
    "--all", "-a", "show_all", is_flag=True, help="Also list failed and preempted replicas."
)
@click.option("--endpoint", is_flag=True, help="Print only the endpoint(s).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(names: tuple[str, ...], show_all: bool, endpoint: bool, as_json: bool) -> None:
    """Services: status, version, uptime, endpoint; and their replicas."""
    from stix_serve import sdk

    services = sdk.status(list(names))
    if as_json:
        click.echo(json.dumps(services, indent=2))
    elif endpoint:
        for s in services:
            click.echo(s["endpoint"])
    elif not services:
        click.echo("No services. Start one with: stix serve up TASK.yaml", err=True)
    else:
        click.echo(_render(services, show_all))


@serve.command()
@click.argument("name")
@click.argument("task_yaml", type=click.Path(dir_okay=False))
@click.option(
    "--mode",
    type=click.Choice(["rolling", "blue_green"]),
    default="rolling",
    show_default=True,
    help="rolling: replace replicas as new ones get ready; blue_green: switch all at once.",
)
@click.option("--env", multiple=True, metavar="K[=V]", help="Env var for the replicas.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def update(name: str, task_yaml: str, mode: str, env: tuple[str, ...], yes: bool) -> None:
    """Update service NAME to the task in TASK_YAML, with no downtime."""
    from stix_serve import sdk

    if not yes:
        click.confirm(f"Update service {name} ({mode})?", default=True, abort=True)
    result = sdk.update(name, task_yaml, mode=mode, env=_env(env))
    click.echo(f"Service {name}: updating to version {result['version']} ({mode}).")


@serve.command()
@click.argument("names", nargs=-1)
@click.option("--all", "-a", "all_services", is_flag=True, help="Every service.")
@click.option("--purge", "-p", is_flag=True, help="Forget services even if cleanup fails.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def down(names: tuple[str, ...], all_services: bool, purge: bool, yes: bool) -> None:
    """Shut services down: drain and remove their replicas, close the endpoint."""
    from stix_serve import sdk

    if not names and not all_services:
        raise click.UsageError("name the services to take down, or use --all")
    if names and all_services:
        raise click.UsageError("give service names or --all, not both")
    if not yes:
        what = "every service" if all_services else ", ".join(names)
        click.confirm(f"Shut down {what}?", default=True, abort=True)
    done = sdk.down(list(names), all=all_services, purge=purge)
    for name in done:
        click.echo(f"Service {name} terminated.")
    if not done:
        click.echo("No services to take down.", err=True)


@serve.command()
@click.argument("name")
@click.argument("replica_id", type=int, required=False)
@click.option("--controller", is_flag=True, help="The controller's log of this service.")
@click.option("--load-balancer", is_flag=True, help="The load balancer's access log.")
@click.option("--follow/--no-follow", default=False, help="Keep following a replica's log.")
def logs(
    name: str, replica_id: int | None, controller: bool, load_balancer: bool, follow: bool
) -> None:
    """Logs of service NAME: a replica's (by id), the controller's, or the load balancer's."""
    from stix_serve import sdk

    if controller and load_balancer:
        raise click.UsageError("use one of --controller and --load-balancer")
    kind = "controller" if controller else "load_balancer" if load_balancer else "replica"
    if kind == "replica" and replica_id is None:
        raise click.UsageError("give a REPLICA_ID, or --controller / --load-balancer")

    def write(data: bytes) -> None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()

    sdk.logs(name, replica_id, kind=kind, follow=follow, write=write)
