"""Entry module of the ``vast`` cloud: registers the cloud, its catalog and provisioner.

Cheap to import: the API client (:mod:`stix.rest`) loads only inside the functions
that call Vast.ai.
"""

from __future__ import annotations

from typing import Any, ClassVar

from stix.hookspecs import hookimpl
from stix.interfaces import CheckResult, Cloud


class VastCloud(Cloud):
    """Vast.ai marketplace machines: on-demand, or interruptible bids."""

    name: ClassVar[str] = "vast"
    display_name: ClassVar[str] = "Vast.ai"
    features: ClassVar[frozenset[str]] = frozenset({"spot", "stop", "open_ports", "docker_image"})
    distribution: ClassVar[str] = "stix-vast"

    def check(self) -> CheckResult:
        from stix_vast.credentials import check

        return check()


@hookimpl
def register_clouds(register: Any) -> None:
    register(VastCloud)


@hookimpl
def register_catalogs(register: Any) -> None:
    from stix_vast.catalog import VastCatalog

    register(VastCatalog)


@hookimpl
def register_provisioners(register: Any) -> None:
    from stix_vast.provisioner import VastProvisioner

    register(VastProvisioner)
