"""``stix launch``: optimise, provision and run a task; ``--dryrun`` only plans."""

from __future__ import annotations

import re
import sys
from typing import Any

import click

from stix.cli.params import MINUTES
from stix.cli.task_options import load_entrypoint, task_options


def plan_dag(dag: Any, *, minimize: str = "cost", dryrun: bool = True) -> Any:
    """Run the task-validation hooks and the optimizer over ``dag``; return the plan."""
    from stix.catalog.files import warn_if_stale
    from stix.optimizer.core import make_scope, optimize
    from stix.plugins import get_registry
    from stix.policy import apply_policy

    dag = apply_policy(dag, "launch", dryrun=dryrun)
    registry = get_registry()
    scope = make_scope(registry)
    plan = optimize(
        dag,
        minimize=minimize,
        registry=registry,
        catalog=scope.catalog,
        allowed_clouds=scope.allowed,
    )
    if scope.catalog is not None:
        warn_if_stale({tp.chosen.cloud for tp in plan.tasks}, scope.catalog.folders)
    return plan


def check_launch_flags(kwargs: dict[str, Any]) -> None:
    """Refuse a bad cluster name or ``--priority`` before anything is planned."""
    from stix.errors import StixError

    if kwargs.get("cluster") is not None:
        from stix.sdk.locks import check_name

        check_name(kwargs["cluster"])
    priority = kwargs.get("priority")
    if priority is not None:
        text = priority.strip()
        if re.fullmatch(r"[+-]?[0-9]+", text):
            if len(text) > 6 or not -1000 <= int(text) <= 1000:
                raise StixError(
                    f"--priority: must be an integer from -1000 to 1000, got {text[:40]}"
                )
        elif text.lower() != "none" and not re.fullmatch(r"[a-zA-Z][-_.a-zA-Z0-9]{0,62}", text):
            raise StixError(
                f"--priority: expected an integer from -1000 to 1000, a priority class name"
                f" or none, got {text[:40]!r}"
            )


@click.command()
@click.argument("entrypoint", nargs=-1)
@click.option("--cluster", "-c", "cluster", help="Cluster name (new or existing).")
@click.option("--dryrun", is_flag=True, help="Print the plan and exit; provision nothing.")
@click.option("--json", "as_json", is_flag=True, help="With --dryrun: print the plan as JSON.")
@click.option("--minimize", type=click.Choice(["cost", "time"]), default="cost", show_default=True)
@click.option("--detach-run", "-d", is_flag=True, help="Return once the job is submitted.")
@click.option(
    "--idle-minutes-to-autostop",
    "-i",
    type=MINUTES,
    help="Stop after N idle minutes (fractions allowed).",
)
@click.option("--wait-for", type=click.Choice(["jobs_and_ssh", "jobs", "none"]))
@click.option("--down", is_flag=True, help="Tear down (not stop) when idle or done.")
@click.option("--retry-until-up", "-r", is_flag=True, help="Keep retrying when out of capacity.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--no-setup", is_flag=True, help="Skip the setup script.")
@click.option(
    "--clone-disk-from", "--clone", "clone_disk_from", help="Clone a stopped cluster's disk."
)
@click.option("--fast", is_flag=True, help="Skip provision and setup when the cluster is UP.")
@click.option("--resize", is_flag=True, help="Scale an existing cluster to --num-nodes.")
@click.option("--priority", help="Job priority (-1000..1000), a class, or none.")
@click.option("--git-url", help="Git repository cloned as the workdir.")
@click.option("--git-ref", help="Branch, tag or commit for --git-url.")
@click.option("--workspace", "-w", help="Workspace to launch in.")
@click.option("--docker", "docker", is_flag=True, hidden=True)
@click.option(
    "--config", "config_overrides", multiple=True, metavar="PATH|K=V", help="Config override."
)
@task_options
def launch(entrypoint: tuple[str, ...], **kwargs: Any) -> None:
    """Launch a task (YAML file or inline command) on the cheapest fitting place.

    \b
    Examples:
        stix launch --dryrun task.yaml
        stix launch --gpus A100:8 --dryrun --json task.yaml
        stix launch -c dev --cpus 4+ 'python train.py'
    """
    from stix.config import use_cli_overrides

    use_cli_overrides(kwargs["config_overrides"])
    check_launch_flags(kwargs)
    dag = load_entrypoint(entrypoint, kwargs, yes=kwargs["yes"] or kwargs["dryrun"])
    if kwargs["dryrun"]:
        from stix.optimizer.render import render, to_json

        plan = plan_dag(dag, minimize=kwargs["minimize"])
        if kwargs["as_json"]:
            click.echo(to_json(plan))
        else:
            click.echo(render(plan, color=sys.stdout.isatty()))
        return
    import importlib

    from stix.errors import StixError

    if len(dag.tasks) != 1:
        raise StixError(
            f"launch: the YAML holds {len(dag.tasks)} tasks; launch runs one task",
            hint="run a pipeline with: stix jobs launch FILE",
        )
    later = {
        "--wait-for": kwargs["wait_for"],
        "--clone-disk-from": kwargs["clone_disk_from"],
        "--resize": kwargs["resize"],
        "--priority": kwargs["priority"],
        "--git-url": kwargs["git_url"],
        "--workspace": kwargs["workspace"],
        "--minimize time": kwargs["minimize"] == "time",
    }
    given = [flag for flag, value in later.items() if value]
    if given:
        raise StixError(f"launch: {', '.join(given)} is not supported yet without --dryrun")
    if not kwargs["yes"] and sys.stdin.isatty():
        click.confirm(
            f"Launching task on cluster {kwargs['cluster'] or '(new)'}. Proceed?",
            default=True,
            abort=True,
        )
    sdk = importlib.import_module("stix.sdk")
    result = sdk.launch(
        dag.tasks[0],
        kwargs["cluster"],
        detach_run=kwargs["detach_run"],
        idle_minutes_to_autostop=kwargs["idle_minutes_to_autostop"],
        down=kwargs["down"],
        retry_until_up=kwargs["retry_until_up"],
        no_setup=kwargs["no_setup"],
        fast=kwargs["fast"],
    )
    from stix.cli.exec import report_job

    if not kwargs["cluster"]:
        click.echo(f"Cluster name: {result.cluster_name}", err=True)
    report_job(result)


__all__ = ["launch", "plan_dag"]
