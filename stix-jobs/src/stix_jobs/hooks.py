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
