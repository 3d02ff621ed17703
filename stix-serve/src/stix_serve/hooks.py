"""Entry module of stix-serve: adds the ``stix serve`` command group.

Imports only ``stix`` and the standard library; aiohttp and the controller load when a
``serve`` command runs.
"""

from __future__ import annotations

from typing import Any

from stix import hookimpl


@hookimpl
def register_commands(cli: Any) -> None:
    from stix_serve.cli import serve

    cli.add_command(serve)


@hookimpl
def teardown_guard(cluster_name: str, action: str) -> str | None:
    """The serve controller is not stopped or torn down while it runs services."""
    if not cluster_name.startswith("stix-serve-controller-"):
        return None
    from stix_serve.sdk import controller_name, live_services

    if cluster_name != controller_name():
        return None
    names = live_services()
    if not names:
        return None
    return (
        f"the serve controller still runs service(s) {', '.join(names)} and their replica "
        f"clusters; take them down first: stix serve down {' '.join(names)}"
    )
