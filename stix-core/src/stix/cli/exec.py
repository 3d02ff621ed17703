"""``stix exec``: run a task on an UP cluster (sync workdir, submit, stream logs)."""

from __future__ import annotations

from typing import Any

import click

from stix.cli.task_options import load_entrypoint, task_options

# SkyPilot's job exit codes for CLI processes.
EXIT_CODES = {"SUCCEEDED": 0, "CANCELLED": 103}
EXIT_FAILED = 100
EXIT_NOT_FINISHED = 101
EXIT_NOT_FOUND = 102


def exit_code(status: str | None) -> int:
    """Process exit code for a job's final state."""
    if status is None:
        return EXIT_NOT_FOUND
    if status in EXIT_CODES:
        return EXIT_CODES[status]
    if status in ("INIT", "PENDING", "SETTING_UP", "RUNNING"):
        return EXIT_NOT_FINISHED
    return EXIT_FAILED


def report_job(result: Any) -> None:
    """Print how a launched/exec'd job ended and exit with its code."""
    if result.job_id is None:
        return
    name = result.cluster_name
    if result.status is None:
        click.echo(f"Job submitted, ID: {result.job_id}", err=True)
        click.echo(f"  Logs:   stix logs {name} {result.job_id}", err=True)
        click.echo(f"  Status: stix queue {name}", err=True)
        return
    if result.status == "SUCCEEDED":
        click.echo(f"✓ Job {result.job_id} finished (status: SUCCEEDED).", err=True)
        return
    detail = ""
    try:
        from stix.sdk.jobs import queue

        jobs = [j for j in queue(name) if j["job_id"] == result.job_id]
        if jobs and jobs[0].get("exit_codes"):
            codes = jobs[0]["exit_codes"]
            detail = f" (exit code {codes[0]})" if len(codes) == 1 else f" (exit codes {codes})"
    except Exception:  # the status line matters more than the codes
        pass
    click.echo(f"✗ Job {result.job_id} finished with status {result.status}{detail}.", err=True)
    raise SystemExit(exit_code(result.status))


@click.command(name="exec")
@click.argument("cluster")
@click.argument("entrypoint", nargs=-1)
@click.option("--detach-run", "-d", is_flag=True, help="Return once the job is submitted.")
@click.option("--git-url", help="Accepted for compatibility (not supported yet).")
@click.option("--git-ref", help="Accepted for compatibility (not supported yet).")
@click.option(
    "--config", "config_overrides", multiple=True, metavar="PATH|K=V", help="Config override."
)
@task_options
def exec_(cluster: str, entrypoint: tuple[str, ...], detach_run: bool, **kwargs: Any) -> None:
    """Run a task (YAML or command) on an existing UP cluster; no provisioning or setup.

    \b
    Examples:
        stix exec dev task.yaml
        stix exec dev -d 'python train.py --epochs 1'
    """
    from stix.config import use_cli_overrides
    from stix.sdk.launcher import exec as sdk_exec

    use_cli_overrides(kwargs["config_overrides"])
    dag = load_entrypoint(entrypoint, kwargs, yes=True)
    result = sdk_exec(dag, cluster, detach_run=detach_run)
    report_job(result)
