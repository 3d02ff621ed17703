"""The Azure catalog: sizes from the Resource SKUs API, prices from the public Retail Prices API.

``stix catalog update azure`` lists ``Microsoft.Compute/skus`` once (every size, the
regions it is offered in, zones and restrictions for the subscription), then reads
the Linux on-demand and Spot hourly prices of each region from
``https://prices.azure.com/api/retail/prices`` (no login needed), and writes
``vms.csv`` in the SkyPilot v8 layout (Azure adds ``Generation``, no zones). Regions
come from ``azure.regions`` in the config, else every region a size is offered in.
The small shipped seed keeps the optimizer working offline.
"""

from __future__ import annotations

import csv
import json
import re
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

from stix.errors import CatalogError, CredentialsError
from stix.interfaces import CatalogSource

COLUMNS = (
    "InstanceType",
    "AcceleratorName",
    "AcceleratorCount",
    "vCPUs",
    "MemoryGiB",
    "GpuInfo",
    "Price",
    "SpotPrice",
    "Region",
    "Generation",
)
SEED = Path(__file__).parent / "seed"
PRICES_ENDPOINT = "https://prices.azure.com"
MAX_PAGES = 200  # a region has a few thousand VM meters, 1000 per page

# GPU model of a size, by its name (the SKUs API gives only the count).
_GPU_MODELS = (
    (r"_ND\d+is?r_H200_v5$", "H200"),
    (r"_ND\d+is?r_MI300X_v5$", "MI300X"),
    (r"_NC?[CD]\d+(ad|is|adi)s?r?_H100_v5$", "H100"),
    (r"_ND\d+amsr_A100_v4$", "A100-80GB"),
    (r"_NC\d+ads_A100_v4$", "A100-80GB"),
    (r"_ND\d+asr_v4$", "A100"),
    (r"_NC\d+as_T4_v3$", "T4"),
    (r"_NV\d+ad(m)?s_A10_v5$", "A10"),
    (r"_NC\d+ads_A10_v4$", "A10"),
    (r"_ND\d+rs_v2$", "V100-32GB"),
    (r"_NC\d+r?s_v3$", "V100"),
    (r"_NC\d+r?s_v2$", "P100"),
    (r"_ND\d+r?s$", "P40"),
    (r"_NV\d+s_v3$", "M60"),
    (r"_NV\d+as_v4$", "MI25"),
    (r"_NC\d+r?$", "K80"),
)


def gpu_model(size: str) -> str | None:
    """The accelerator name of an Azure size (``Standard_NC4as_T4_v3`` -> ``T4``), else ``None``."""
    for pattern, name in _GPU_MODELS:
        if re.search(pattern, size, re.IGNORECASE):
            return name
    return None


def _setting(key: str, default: Any = None) -> Any:
    from stix.config import load_config

    return load_config().get(f"azure.{key}", default)


def _capabilities(sku: dict[str, Any]) -> dict[str, str]:
    return {str(c.get("name")): str(c.get("value")) for c in sku.get("capabilities") or []}


def sizes(skus: Iterable[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """``{(size, region): shape}`` of the VM sizes usable by the subscription.

    A region where the size is restricted for the subscription (``NotAvailableForSubscription``
    on the location) is left out.
    """
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for sku in skus:
        if sku.get("resourceType") != "virtualMachines":
            continue
        blocked = {
            str(v).lower()
            for r in sku.get("restrictions") or []
            if r.get("type") == "Location"
            for v in r.get("values") or []
        }
        caps = _capabilities(sku)
        gpus = int(float(caps.get("GPUs", "0") or 0))
        shape = {
            "vcpus": int(float(caps.get("vCPUs", "0") or 0)),
            "memory": float(caps.get("MemoryGB", "0") or 0),
            "gpus": gpus,
            "gpu": gpu_model(str(sku["name"])) if gpus else None,
            "generation": caps.get("HyperVGenerations", "V1"),
        }
        for region in sku.get("locations") or []:
            if str(region).lower() not in blocked:
                out[(str(sku["name"]), str(region).lower())] = shape
    return out


def _get_json(url: str) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return dict(json.load(response))


def region_prices(region: str) -> dict[str, dict[str, float]]:
    """``{size: {"price": on-demand, "spot": spot}}`` of Linux VMs in ``region`` (Retail Prices API)."""
    base = str(_setting("prices_endpoint") or PRICES_ENDPOINT).rstrip("/")
    query = (
        "serviceName eq 'Virtual Machines' and priceType eq 'Consumption' "
        f"and armRegionName eq '{region}'"
    )
    url: str | None = f"{base}/api/retail/prices?" + urllib.parse.urlencode(
        {"currencyCode": "USD", "$filter": query}
    )
    out: dict[str, dict[str, float]] = {}
    pages = 0
    while url and pages < MAX_PAGES:
        page = _get_json(url)
        pages += 1
        for item in page.get("Items") or []:
            product = str(item.get("productName") or "")
            sku_name = str(item.get("skuName") or "")
            if "Windows" in product or "Low Priority" in sku_name:
                continue
            if str(item.get("unitOfMeasure") or "") != "1 Hour":
                continue
            price = float(item.get("retailPrice") or 0)
            if price <= 0:
                continue
            kind = "spot" if sku_name.endswith(" Spot") else "price"
            entry = out.setdefault(str(item.get("armSkuName")), {})
            entry[kind] = min(price, entry.get(kind, price))
        url = page.get("NextPageLink") or None
    return out


def rows_for(
    shapes: dict[tuple[str, str], dict[str, Any]], region: str, prices: dict[str, dict[str, float]]
) -> list[dict[str, Any]]:
    """Catalog rows of one region: sizes offered there that have an on-demand Linux price."""
    rows = []
    for (size, where), shape in sorted(shapes.items()):
        price = prices.get(size, {})
        if where != region or "price" not in price:
            continue
        rows.append(
            {
                "InstanceType": size,
                "AcceleratorName": shape["gpu"] or "",
                "AcceleratorCount": shape["gpus"] if shape["gpu"] else "",
                "vCPUs": shape["vcpus"],
                "MemoryGiB": shape["memory"],
                "GpuInfo": shape["gpu"] or "",
                "Price": price["price"],
                "SpotPrice": price.get("spot", ""),
                "Region": region,
                "Generation": shape["generation"],
            }
        )
    return rows


def write_vms(dest: Path, rows: list[dict[str, Any]]) -> Path:
    path = dest / "vms.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def build(dest: Path, regions: Iterable[str] | None = None) -> Path:
    """Fetch sizes and prices and write ``dest/vms.csv``.

    :raises stix.errors.CredentialsError: Azure rejected or lacks credentials (SKUs API).
    :raises stix.errors.CatalogError: an API failed, or no region returned a priced size.
    """
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

    from stix_azure.credentials import LOGIN_HINT
    from stix_azure.session import compute_client

    try:
        skus = [s.as_dict() for s in compute_client().resource_skus.list()]
    except ClientAuthenticationError as exc:
        raise CredentialsError(f"azure: catalog fetch: {exc.message}", hint=LOGIN_HINT) from exc
    except HttpResponseError as exc:
        raise CatalogError(f"azure: Resource SKUs API failed: {exc.message}") from exc
    shapes = sizes(skus)
    wanted = list(regions or _setting("regions") or sorted({r for _, r in shapes}))
    try:
        with ThreadPoolExecutor(max_workers=min(8, len(wanted) or 1)) as pool:
            prices = list(pool.map(region_prices, wanted))
    except (OSError, ValueError) as exc:
        raise CatalogError(f"azure: Retail Prices API failed: {exc}") from exc
    rows = [
        row for region, p in zip(wanted, prices, strict=True) for row in rows_for(shapes, region, p)
    ]
    missing = [r for r, p in zip(wanted, prices, strict=True) if not p]
    if missing:
        print(f"azure: no prices published for {', '.join(missing)}", file=sys.stderr)
    if not rows:
        raise CatalogError(f"azure: no priced VM sizes found in {', '.join(wanted)}")
    return write_vms(dest, rows)


class AzureCatalog(CatalogSource):
    """Catalog source of the ``azure`` cloud."""

    name: ClassVar[str] = "azure"

    def fetch(self, dest: Path) -> None:
        build(dest)

    def seed(self) -> Path | None:
        return SEED if (SEED / "vms.csv").is_file() else None


__all__ = [
    "COLUMNS",
    "AzureCatalog",
    "build",
    "gpu_model",
    "region_prices",
    "rows_for",
    "sizes",
    "write_vms",
]
