"""Entry module of the ``runpod`` cloud: registers the cloud, its catalog and provisioner.

Cheap to import: the API client (:mod:`stix.rest`) loads only inside the functions
that call RunPod.
"""

from __future__ import annotations

from typing import Any, ClassVar

from stix.hookspecs import hookimpl
from stix.interfaces import CheckResult, Cloud


class RunpodCloud(Cloud):
    """RunPod GPU pods: secure or community cloud, on-demand or interruptible."""

    name: ClassVar[str] = "runpod"
    display_name: ClassVar[str] = "RunPod"
    features: ClassVar[frozenset[str]] = frozenset(
        {"spot", "stop", "open_ports", "docker_image", "autostop", "autodown"}
    )
    distribution: ClassVar[str] = "stix-runpod"

    def check(self) -> CheckResult:
        from stix_runpod.credentials import check

        return check()


@hookimpl
def register_clouds(register: Any) -> None:
    register(RunpodCloud)


@hookimpl
def register_catalogs(register: Any) -> None:
    from stix_runpod.catalog import RunpodCatalog

    register(RunpodCatalog)


@hookimpl
def register_provisioners(register: Any) -> None:
    from stix_runpod.provisioner import RunpodProvisioner

    register(RunpodProvisioner)
