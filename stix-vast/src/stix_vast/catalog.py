"""The Vast.ai catalog: live marketplace offers aggregated into v8 rows, plus a shipped seed.

Vast sells single machines, so an "instance type" is a GPU configuration:
``<n>x-<gpu name>-<vCPUs>-<RAM MiB>`` (``2x-RTX_4090-16-64000``), the vCPUs and
RAM being the least that every offer of that configuration has. A region is the
country of the machines (``US``, ``DK``). ``Price`` is the cheapest on-demand
``dph_total`` of the configuration in that country, ``SpotPrice`` its cheapest
``min_bid``. ``stix catalog update vast`` searches the offers (``POST /bundles/``);
the stamp in ``meta.json`` tells how fresh they are, as offers come and go by the minute.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any, ClassVar

from stix.errors import CatalogError, CredentialsError
from stix.interfaces import CatalogSource

SEED = Path(__file__).parent / "seed"
SEARCH_LIMIT = 5000
_TYPE = re.compile(r"^(\d+)x-(.+)-(\d+)-(\d+)$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def instance_type(num_gpus: int, gpu_name: str, vcpus: int, ram_mib: int) -> str:
    return f"{num_gpus}x-{gpu_name.replace(' ', '_')}-{vcpus}-{ram_mib}"


def parse_instance_type(name: str) -> tuple[int, str, int, int]:
    """``(GPUs, Vast gpu_name, least vCPUs, least RAM MiB)`` of an instance type name."""
    match = _TYPE.match(name)
    if not match:
        raise ValueError(f"not a Vast.ai instance type: {name!r}")
    return (
        int(match.group(1)),
        match.group(2).replace("_", " "),
        int(match.group(3)),
        int(match.group(4)),
    )


def country(location: str | None) -> str | None:
    """The country code of a Vast ``geolocation`` (``Texas, US``) or catalog region (``Denmark, DK, EU``)."""
    parts = [p.strip() for p in str(location or "").split(",")]
    codes = [p for p in parts if _COUNTRY.match(p)]
    return codes[0] if codes else None


def rows_of(offers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Catalog rows from a ``/bundles/`` answer's ``offers``."""
    from stix.catalog.accelerators import from_product_name
    from stix.catalog.rows import gpu_info_cell

    shapes: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for offer in offers:
        if offer.get("gpu_name") and offer.get("num_gpus") and country(offer.get("geolocation")):
            shapes[(int(offer["num_gpus"]), str(offer["gpu_name"]))].append(offer)
    rows = []
    for (count, gpu), group in sorted(shapes.items()):
        vcpus = int(min(float(o.get("cpu_cores_effective") or 0) for o in group))
        ram = int(min(float(o.get("cpu_ram") or 0) for o in group))
        gpu_mib = min(float(o.get("gpu_ram") or 0) for o in group)
        acc = from_product_name(gpu, gpu_mib / 1024)
        name = instance_type(count, gpu, vcpus, ram)
        by_country: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for offer in group:
            by_country[str(country(offer.get("geolocation")))].append(offer)
        for code, here in sorted(by_country.items()):
            bids = [float(o["min_bid"]) for o in here if o.get("min_bid")]
            rows.append(
                {
                    "InstanceType": name,
                    "AcceleratorName": acc,
                    "AcceleratorCount": count,
                    "vCPUs": vcpus,
                    "MemoryGiB": round(ram / 1024, 2),
                    "GpuInfo": gpu_info_cell(acc, count, gpu_mib),
                    "Price": round(min(float(o["dph_total"]) for o in here), 4),
                    "SpotPrice": round(min(bids), 4) if bids else "",
                    "Region": code,
                }
            )
    return rows


def offer_query(**extra: Any) -> dict[str, Any]:
    """A ``/bundles/`` search body: rentable, verified machines (``vast.datacenter_only`` too)."""
    from stix.config import load_config

    query: dict[str, Any] = {
        "rentable": {"eq": True},
        "verified": {"eq": True},
        "external": {"eq": False},
        "type": "on-demand",
        "order": [["dph_total", "asc"]],
        "limit": SEARCH_LIMIT,
    }
    if load_config().get("vast.datacenter_only"):
        query["datacenter"] = {"eq": True}
    query.update(extra)
    return query


class VastCatalog(CatalogSource):
    """Catalog source of the ``vast`` cloud."""

    name: ClassVar[str] = "vast"

    def fetch(self, dest: Path) -> None:
        from stix.catalog.rows import write_vms

        from stix_vast.api import CREDENTIALS_HINT, VastApi, VastApiError
        from stix_vast.credentials import api_key

        try:
            answer = VastApi(api_key()).call("POST", "/bundles/", offer_query(num_gpus={"gte": 1}))
        except VastApiError as exc:
            if exc.status in (401, 403):
                raise CredentialsError(
                    f"vast: catalog fetch rejected: {exc}", hint=CREDENTIALS_HINT
                ) from exc
            raise CatalogError(f"vast: catalog fetch failed: {exc}") from exc
        rows = rows_of((answer or {}).get("offers") or [])
        if not rows:
            raise CatalogError("vast: the offer search returned no rentable GPU machine")
        write_vms(dest, rows)

    def seed(self) -> Path | None:
        return SEED if (SEED / "vms.csv").is_file() else None


__all__ = [
    "VastCatalog",
    "country",
    "instance_type",
    "offer_query",
    "parse_instance_type",
    "rows_of",
]
