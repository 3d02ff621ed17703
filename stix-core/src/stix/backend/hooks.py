"""Entry module of the core's default backend (registered through the ``stix`` entry points)."""

from __future__ import annotations

from typing import Any

from stix.hookspecs import hookimpl


@hookimpl
def register_backends(register: Any) -> None:
    from stix.backend.default import DefaultBackend

    register(DefaultBackend)
