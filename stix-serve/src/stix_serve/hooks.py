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
