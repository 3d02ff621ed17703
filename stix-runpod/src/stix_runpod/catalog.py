"""The RunPod catalog: GPU types, prices and data-center stock as v8 rows, plus a shipped seed.

An instance type is ``<count>x_<GPU display name>_<SECURE|COMMUNITY>`` (spaces as
dashes: ``2x_RTX-4090_COMMUNITY``); its region is a data center (``US-TX-3``).
``Price`` is the on-demand price of all GPUs, ``SpotPrice`` the interruptible one.
``stix catalog update runpod`` reads ``gpuTypes`` and ``dataCenters`` (which data
centers have a GPU type in stock); the seed under ``seed/`` holds RunPod's public
prices for offline planning.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from stix.errors import CatalogError, CredentialsError
from stix.interfaces import CatalogSource

SEED = Path(__file__).parent / "seed"
COUNTS = (1, 2, 4, 8)
CLOUD_TYPES = ("SECURE", "COMMUNITY")
GPU_TYPES_QUERY = """query GpuTypes { gpuTypes {
  id displayName memoryInGb maxGpuCount secureCloud communityCloud
  securePrice communityPrice secureSpotPrice communitySpotPrice
  lowestPrice(input: {gpuCount: 1}) { minVcpu minMemory }
} }"""
DATA_CENTERS_QUERY = """query DataCenters { dataCenters {
  id name location gpuAvailability { gpuTypeId available stockStatus }
} }"""
_TYPE = re.compile(r"^(\d+)x_(.+)_(SECURE|COMMUNITY)$")


def instance_type(count: int, display: str, cloud_type: str) -> str:
    return f"{count}x_{display.replace(' ', '-')}_{cloud_type}"


def parse_instance_type(name: str) -> tuple[int, str, str]:
    """``(GPU count, display name with dashes, SECURE|COMMUNITY)`` of an instance type name."""
    match = _TYPE.match(name)
    if not match:
        raise ValueError(f"not a RunPod instance type: {name!r}")
    return int(match.group(1)), match.group(2), match.group(3)


def rows_of(gpu_types: list[dict[str, Any]], stock: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Catalog rows from ``gpuTypes`` and ``{gpu type id: data centers with stock}``."""
    from stix.catalog.accelerators import from_product_name
    from stix.catalog.rows import gpu_info_cell

    rows = []
    for gpu in gpu_types:
        display, memory = str(gpu.get("displayName") or gpu["id"]), gpu.get("memoryInGb")
        acc = from_product_name(display, memory)
        lowest = gpu.get("lowestPrice") or {}
        vcpus, mem = lowest.get("minVcpu") or 0, lowest.get("minMemory") or 0
        maker = "AMD" if str(gpu["id"]).startswith("AMD") else "NVIDIA"
        for cloud_type in CLOUD_TYPES:
            key = cloud_type.lower()
            price, spot = gpu.get(f"{key}Price"), gpu.get(f"{key}SpotPrice")
            if not gpu.get(f"{key}Cloud") or not price:
                continue
            for count in (c for c in COUNTS if c <= int(gpu.get("maxGpuCount") or 8)):
                for region in sorted(stock.get(str(gpu["id"]), [])):
                    rows.append(
                        {
                            "InstanceType": instance_type(count, display, cloud_type),
                            "AcceleratorName": acc,
                            "AcceleratorCount": count,
                            "vCPUs": vcpus * count,
                            "MemoryGiB": mem * count,
                            "GpuInfo": gpu_info_cell(acc, count, (memory or 0) * 1024, maker),
                            "Price": round(float(price) * count, 4),
                            "SpotPrice": round(float(spot) * count, 4) if spot else "",
                            "Region": region,
                        }
                    )
    return rows


def stock_of(data_centers: list[dict[str, Any]]) -> dict[str, list[str]]:
    """``{gpu type id: [data center ids]}`` where the type is listed as available."""
    out: dict[str, list[str]] = {}
    for center in data_centers:
        for item in center.get("gpuAvailability") or []:
            if item.get("available") or str(item.get("stockStatus") or "").lower() in (
                "high",
                "medium",
                "low",
            ):
                out.setdefault(str(item["gpuTypeId"]), []).append(str(center["id"]))
    return out


class RunpodCatalog(CatalogSource):
    """Catalog source of the ``runpod`` cloud."""

    name: ClassVar[str] = "runpod"

    def fetch(self, dest: Path) -> None:
        from stix.catalog.rows import write_vms

        from stix_runpod.api import CREDENTIALS_HINT, RunpodApi, RunpodApiError
        from stix_runpod.credentials import api_key

        try:
            api = RunpodApi(api_key())
            gpus = api.call(GPU_TYPES_QUERY).get("gpuTypes") or []
            centers = api.call(DATA_CENTERS_QUERY).get("dataCenters") or []
        except RunpodApiError as exc:
            if exc.status in (401, 403):
                raise CredentialsError(
                    f"runpod: catalog fetch rejected: {exc}", hint=CREDENTIALS_HINT
                ) from exc
            raise CatalogError(f"runpod: catalog fetch failed: {exc}") from exc
        rows = rows_of(gpus, stock_of(centers))
        if not rows:
            raise CatalogError("runpod: no GPU type is in stock in any data center right now")
        write_vms(dest, rows)

    def seed(self) -> Path | None:
        return SEED if (SEED / "vms.csv").is_file() else None


__all__ = [
    "RunpodCatalog",
    "instance_type",
    "parse_instance_type",
    "rows_of",
    "stock_of",
]
