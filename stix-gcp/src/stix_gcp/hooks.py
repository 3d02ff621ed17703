"""Entry module of the ``gcp`` cloud: registers the cloud, its catalog, provisioner and GCS store.

Cheap to import: the Google client libraries load only inside the functions that call GCP.
"""

from __future__ import annotations

from typing import Any, ClassVar

from stix.hookspecs import hookimpl
from stix.interfaces import CheckResult, Cloud

# USD per GB leaving Google Cloud to the internet (premium tier, first TB per month).
EGRESS_PER_GB = 0.12


class GcpCloud(Cloud):
    """Google Cloud: Compute Engine VMs and TPU VMs."""

    name: ClassVar[str] = "gcp"
    display_name: ClassVar[str] = "GCP"
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
            "autostop",
            "autodown",
        }
    )
    distribution: ClassVar[str] = "stix-gcp"

    def check(self) -> CheckResult:
        from stix_gcp.credentials import check

        return check()

    def egress_cost(self, gigabytes: float) -> float:
        return EGRESS_PER_GB * max(0.0, gigabytes)


@hookimpl
def register_clouds(register: Any) -> None:
    register(GcpCloud)


@hookimpl
def register_catalogs(register: Any) -> None:
    from stix_gcp.catalog import GcpCatalog

    register(GcpCatalog)


@hookimpl
def register_provisioners(register: Any) -> None:
    from stix_gcp.provisioner import GcpProvisioner

    register(GcpProvisioner)


@hookimpl
def register_stores(register: Any) -> None:
    from stix_gcp.store import GcsStore

    register(GcsStore)
