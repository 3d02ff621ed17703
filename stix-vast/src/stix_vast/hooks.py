"""Entry module of the ``vast`` cloud: registers the cloud, its catalog and provisioner.

Cheap to import: the API client (:mod:`stix.rest`) loads only inside the functions
that call Vast.ai.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from stix.hookspecs import hookimpl
from stix.interfaces import CheckResult, Cloud

if TYPE_CHECKING:
    from stix.catalog.offer import Offer

NO_BID_PRICE = "the catalog has no bid price; the bid is the live offer's minimum bid at launch"


class VastCloud(Cloud):
    """Vast.ai marketplace machines: on-demand, or interruptible bids."""

    name: ClassVar[str] = "vast"
    display_name: ClassVar[str] = "Vast.ai"
    features: ClassVar[frozenset[str]] = frozenset(
        {"spot", "stop", "open_ports", "docker_image", "autostop", "autodown"}
    )
    distribution: ClassVar[str] = "stix-vast"

    def check(self) -> CheckResult:
        from stix_vast.credentials import check

        return check()

    def offer_note(self, offer: Offer, use_spot: bool) -> str | None:
        """Say so when a spot plan is priced at a catalog bid of 0.00 (public catalogs carry no
        bid prices): the provisioner bids the live offer's minimum bid when it rents."""
        if use_spot and offer.spot_price == 0:
            return NO_BID_PRICE
        return offer.note


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
