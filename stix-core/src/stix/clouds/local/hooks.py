"""Entry module of the built-in ``local`` cloud (registered like any plugin)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, ClassVar

from stix.hookspecs import hookimpl
from stix.interfaces import CheckResult, Cloud

if TYPE_CHECKING:
    from stix.catalog.offer import Offer
    from stix.task import Resources

INSTANCE_TYPE = "local"


class LocalCloud(Cloud):
    """Runs nodes as sandboxes on this machine; needs no account."""

    name: ClassVar[str] = "local"
    display_name: ClassVar[str] = "Local"
    features: ClassVar[frozenset[str]] = frozenset(
        {"multi_node", "stop", "spot", "autostop", "autodown", "open_ports"}
    )
    uses_catalog: ClassVar[bool] = False
    default_cpus: ClassVar[str] = "1+"
    distribution: ClassVar[str] = "stix"

    def check(self) -> CheckResult:
        cpus = os.cpu_count() or 1
        return CheckResult(True, f"this machine ({cpus} CPUs, Python {sys.version.split()[0]})")

    def unsupported(self, resources: Resources, num_nodes: int) -> str | None:
        """Also refuse more nodes than this machine holds (``local.max_nodes``)."""
        from stix.clouds.local.capacity import max_nodes

        limit = max_nodes()
        if num_nodes > limit:
            return (
                f"local: this machine holds at most {limit} sandbox nodes, {num_nodes} asked"
                " (raise local.max_nodes in the config to allow more)"
            )
        return super().unsupported(resources, num_nodes)

    def live_offers(self, resources: Resources, num_nodes: int) -> list[Offer]:
        """One free offer shaped like this machine, when it satisfies ``resources``."""
        from stix.catalog.offer import Offer
        from stix.clouds.local.capacity import host_capacity

        cap = host_capacity()
        if resources.instance_type not in (None, INSTANCE_TYPE):
            return []
        if resources.region not in (None, "local") or resources.zone is not None:
            return []
        # A sandbox is sized to an exact request ("cpus: 1"), else it gets the whole host.
        vcpus, memory_gib = cap.cpus, cap.memory_gib
        cpus = resources.cpus_request()
        if cpus and cpus[0] > cap.cpus:
            return []
        if cpus and not cpus[1]:
            vcpus = cpus[0]
        memory = resources.memory_request()
        if memory and memory[0] > cap.memory_gib:
            return []
        if memory and not memory[1]:
            memory_gib = memory[0]
        acc = resources.accelerator()
        if acc is not None:
            if not cap.accelerator or acc[0].lower() != cap.accelerator.lower():
                return []
            if acc[1] > cap.accelerator_count:
                return []
        return [
            Offer(
                cloud="local",
                instance_type=INSTANCE_TYPE,
                vcpus=vcpus,
                memory_gib=memory_gib,
                price=0.0,
                region="local",
                zone=None,
                accelerator_name=cap.accelerator if acc is not None else None,
                accelerator_count=acc[1] if acc is not None else 0,
                gpu_memory_gib=cap.gpu_memory_gib,
                spot_price=0.0,
            )
        ]


@hookimpl
def register_clouds(register: Any) -> None:
    register(LocalCloud)


@hookimpl
def register_provisioners(register: Any) -> None:
    from stix.clouds.local.provisioner import LocalProvisioner

    register(LocalProvisioner)
