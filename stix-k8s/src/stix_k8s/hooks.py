"""Entry module of the ``kubernetes`` cloud (alias ``k8s``): each kube context is a region.

Cheap to import: the ``kubernetes`` client is loaded only inside the functions that
talk to an API server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from stix.hookspecs import hookimpl
from stix.interfaces import CheckResult, Cloud

if TYPE_CHECKING:
    from stix.catalog.offer import Offer
    from stix.task import Resources


class KubernetesCloud(Cloud):
    """Pods on your own Kubernetes clusters, one context per region."""

    name: ClassVar[str] = "kubernetes"
    display_name: ClassVar[str] = "Kubernetes"
    features: ClassVar[frozenset[str]] = frozenset(
        {"multi_node", "open_ports", "docker_image", "autodown"}
    )
    uses_catalog: ClassVar[bool] = False
    default_cpus: ClassVar[str] = "1+"
    distribution: ClassVar[str] = "stix-k8s"

    def check(self) -> CheckResult:
        from stix_k8s.check import check

        return check()

    def live_offers(self, resources: Resources, num_nodes: int) -> list[Offer]:
        """One offer per usable context whose nodes hold ``num_nodes`` such pods now."""
        from stix.errors import StixError

        from stix_k8s import capacity, contexts

        if resources.zone is not None:
            return []
        found: list[Offer] = []
        for context in contexts.allowed_contexts():
            if resources.region not in (None, context):
                continue
            try:
                found.extend(capacity.offers(context, resources, num_nodes))
            except StixError:
                continue  # an unreachable context offers nothing; `stix check` says why
        return found

    def gpu_availability(self, region: str | None) -> list[dict[str, Any]]:
        """Free and total GPUs per type and context, read from the nodes now."""
        from stix_k8s import capacity, contexts

        rows: list[dict[str, Any]] = []
        for context in contexts.allowed_contexts():
            if region in (None, context):
                rows.extend(capacity.gpu_rows(context))
        return rows


@hookimpl
def register_clouds(register: Any) -> None:
    register(KubernetesCloud)


@hookimpl
def register_provisioners(register: Any) -> None:
    from stix_k8s.provisioner import KubernetesProvisioner

    register(KubernetesProvisioner)
