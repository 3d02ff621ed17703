"""Entry module of ``stix-jobs``: adds the ``stix jobs`` command group.

Imports only ``stix`` and the standard library; the commands load the rest when run.
"""

from __future__ import annotations

from typing import Any

from stix.hookspecs import hookimpl


@hookimpl
def register_commands(cli: Any) -> None:
    from stix_jobs.cli import jobs

    cli.add_command(jobs)


@hookimpl
def teardown_guard(cluster_name: str, action: str) -> str | None:
    """The jobs controller is not stopped or torn down while managed jobs are in progress."""
    if not cluster_name.startswith("stix-jobs-controller-"):
        return None
    from stix_jobs.client import controller_name
    from stix_jobs.sdk import queue

    if cluster_name != controller_name():
        return None
    active = queue(all=True, skip_finished=True)
    if not active:
        return None
    ids = ", ".join(str(job["job_id"]) for job in active[:10])
    more = f" and {len(active) - 10} more" if len(active) > 10 else ""
    return (
        f"the jobs controller has {len(active)} managed job(s) in progress ({ids}{more}); "
        "cancel them first: stix jobs cancel --all"
    )
