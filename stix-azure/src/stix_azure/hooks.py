"""Entry module of the ``azure`` cloud: registers the cloud, its catalog, provisioner and Blob store.

Cheap to import: the azure-* SDKs are loaded only inside the functions that call Azure.
"""

from __future__ import annotations

from typing import Any, ClassVar

from stix.hookspecs import hookimpl
from stix.interfaces import CheckResult, Cloud

# USD per GB leaving Azure to the internet (first 10 TB per month, after the free 100 GB).
EGRESS_PER_GB = 0.087


class AzureCloud(Cloud):
    """Microsoft Azure virtual machines."""

    name: ClassVar[str] = "azure"
    display_name: ClassVar[str] = "Azure"
    features: ClassVar[frozenset[str]] = frozenset(
        {
            "multi_node",
            "stop",
            "spot",
            "open_ports",
            "image_id",
            "docker_image",  # a container per VM, started by the core
            "disk_tier",
            "storage_mount",
        }
    )
    distribution: ClassVar[str] = "stix-azure"

    def check(self) -> CheckResult:
        from stix_azure.credentials import check

        return check()

    def egress_cost(self, gigabytes: float) -> float:
        return EGRESS_PER_GB * max(0.0, gigabytes)


@hookimpl
def register_clouds(register: Any) -> None:
    register(AzureCloud)


@hookimpl
def register_catalogs(register: Any) -> None:
    from stix_azure.catalog import AzureCatalog

    register(AzureCatalog)


@hookimpl
def register_provisioners(register: Any) -> None:
    from stix_azure.provisioner import AzureProvisioner

    register(AzureProvisioner)


@hookimpl
def register_stores(register: Any) -> None:
    from stix_azure.store import BlobStore

    register(BlobStore)
