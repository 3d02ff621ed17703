"""Entry module of the ``aws`` cloud: registers the cloud, its catalog, provisioner and S3 store.

Cheap to import: boto3 is loaded only inside the functions that call AWS.
"""

from __future__ import annotations

from typing import Any, ClassVar

from stix.hookspecs import hookimpl
from stix.interfaces import CheckResult, Cloud

# USD per GB leaving AWS to the internet (first 10 TB per month tier).
EGRESS_PER_GB = 0.09


class AwsCloud(Cloud):
    """Amazon EC2."""

    name: ClassVar[str] = "aws"
    display_name: ClassVar[str] = "AWS"
    features: ClassVar[frozenset[str]] = frozenset(
        {
            "multi_node",
            "stop",
            "spot",
            "open_ports",
            "image_id",
            "docker_image",  # a container per VM, started by the core
            "autostop",
            "autodown",
            "disk_tier",
            "storage_mount",
        }
    )
    distribution: ClassVar[str] = "stix-aws"

    def check(self) -> CheckResult:
        from stix_aws.credentials import check

        return check()

    def egress_cost(self, gigabytes: float) -> float:
        return EGRESS_PER_GB * max(0.0, gigabytes)


@hookimpl
def register_clouds(register: Any) -> None:
    register(AwsCloud)


@hookimpl
def register_catalogs(register: Any) -> None:
    from stix_aws.catalog import AwsCatalog

    register(AwsCatalog)


@hookimpl
def register_provisioners(register: Any) -> None:
    from stix_aws.provisioner import AwsProvisioner

    register(AwsProvisioner)


@hookimpl
def register_stores(register: Any) -> None:
    from stix_aws.store import S3Store

    register(S3Store)
