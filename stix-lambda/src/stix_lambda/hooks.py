"""Entry module of the ``lambda`` cloud: registers the cloud, its catalog and provisioner.

Cheap to import: the API client (:mod:`stix.rest`) loads only inside the functions
that call Lambda.
"""

from __future__ import annotations

from typing import Any, ClassVar

from stix.hookspecs import hookimpl
from stix.interfaces import CheckResult, Cloud


class LambdaCloud(Cloud):
    """Lambda Cloud (on-demand GPU instances; no spot, no stop; autodown from the head)."""

    name: ClassVar[str] = "lambda"
    display_name: ClassVar[str] = "Lambda"
    features: ClassVar[frozenset[str]] = frozenset(
        {"multi_node", "open_ports", "docker_image", "autodown"}
    )
    default_cpus: ClassVar[str] = "30+"
    distribution: ClassVar[str] = "stix-lambda"

    def check(self) -> CheckResult:
        from stix_lambda.credentials import check

        return check()


@hookimpl
def register_clouds(register: Any) -> None:
    register(LambdaCloud)


@hookimpl
def register_catalogs(register: Any) -> None:
    from stix_lambda.catalog import LambdaCatalog

    register(LambdaCatalog)


@hookimpl
def register_provisioners(register: Any) -> None:
    from stix_lambda.provisioner import LambdaProvisioner

    register(LambdaProvisioner)
