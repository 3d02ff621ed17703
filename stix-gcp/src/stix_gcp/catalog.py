"""The GCP catalog: built from the Compute API and the Cloud Billing Catalog API, with a seed.

``stix catalog update gcp`` calls :meth:`GcpCatalog.fetch`. It reads
``machineTypes.aggregatedList`` (vCPUs, memory, built-in GPUs per zone) and
``acceleratorTypes.aggregatedList`` (which GPUs each zone sells, and how many per
VM), then the Compute Engine service's SKUs from the Billing Catalog
(``services/6F81-5844-456A/skus``): per-vCPU and per-GiB prices of each machine
family and per-GPU prices, on-demand and Spot, per region. Rows use the
SkyPilot v8 layout: host rows priced without GPUs, GPU rows without a host.
Regions come from ``gcp.regions`` in the config, else every region seen. TPU rows
are kept from the shipped seed (Cloud TPU is priced under its own billing service).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any, ClassVar

from stix.errors import CatalogError, StixError
from stix.interfaces import CatalogSource

from stix_gcp.machines import ACCELERATOR_TYPES

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
    "AvailabilityZone",
)
SEED = Path(__file__).parent / "seed"
COMPUTE_SERVICE = "services/6F81-5844-456A"
# Machine family prefix -> the family's words in SKU descriptions.
FAMILY_SKU_NAMES = {
    "n1": "N1 Predefined",
    "n2": "N2",
    "n2d": "N2D",
    "e2": "E2",
    "c2": "Compute optimized",
    "c2d": "C2D AMD",
    "c3": "C3",
    "n4": "N4",
    "g2": "G2",
    "a2": "A2",
    "a3": "A3",
    "m1": "Memory-optimized",
}
# Compute Engine accelerator type -> the GPU's words in SKU descriptions.
GPU_SKU_NAMES = {
    "nvidia-tesla-t4": "Nvidia Tesla T4",
    "nvidia-tesla-v100": "Nvidia Tesla V100",
    "nvidia-tesla-p100": "Nvidia Tesla P100",
    "nvidia-tesla-p4": "Nvidia Tesla P4",
    "nvidia-tesla-k80": "Nvidia Tesla K80",
    "nvidia-l4": "Nvidia L4",
    "nvidia-tesla-a100": "Nvidia Tesla A100",
    "nvidia-a100-80gb": "Nvidia A100 80GB",
    "nvidia-h100-80gb": "Nvidia H100 80GB",
    "nvidia-h100-mega-80gb": "Nvidia H100 Mega 80GB",
}
STIX_GPU_NAMES = {v: k for k, v in ACCELERATOR_TYPES.items()}
_VM_SKU = re.compile(
    r"^(?P<spot>Spot Preemptible |Preemptible )?(?P<family>.+?) Instance (?P<kind>Core|Ram) running in"
)
_GPU_SKU = re.compile(
    r"^(?P<gpu>Nvidia .+?) GPU (?P<spot>attached to Spot Preemptible VMs )?running in"
)


def _unit_price(sku: dict[str, Any]) -> float | None:
    """USD per unit (hour, or GiB-hour) of a SKU's first tier with a price."""
    for info in sku.get("pricingInfo") or ():
        for rate in (info.get("pricingExpression") or {}).get("tieredRates") or ():
            money = rate.get("unitPrice") or {}
            value = int(money.get("units") or 0) + int(money.get("nanos") or 0) / 1e9
            if value > 0:
                return value
    return None


def sku_prices(skus: list[dict[str, Any]]) -> dict[tuple[str, str, str, bool], float]:
    """``{(kind, name, region, spot): USD}`` where kind is ``core``, ``ram`` or ``gpu``."""
    families = {v: k for k, v in FAMILY_SKU_NAMES.items()}
    gpus = {v: k for k, v in GPU_SKU_NAMES.items()}
    out: dict[tuple[str, str, str, bool], float] = {}
    for sku in skus:
        text = str(sku.get("description") or "")
        price = _unit_price(sku)
        if price is None:
            continue
        vm, gpu = _VM_SKU.match(text), _GPU_SKU.match(text)
        if vm and vm.group("family") in families and "Custom" not in text:
            key = ("core" if vm.group("kind") == "Core" else "ram", families[vm.group("family")])
            spot = bool(vm.group("spot"))
        elif gpu and gpu.group("gpu") in gpus:
            key, spot = ("gpu", gpus[gpu.group("gpu")]), bool(gpu.group("spot"))
        else:
            continue
        for region in sku.get("serviceRegions") or ():
            out.setdefault((*key, str(region), spot), price)
    return out


def _family(machine_type: str) -> str:
    return machine_type.split("-", 1)[0]


def build_rows(
    machine_types: list[dict[str, Any]],
    accelerator_types: list[dict[str, Any]],
    prices: dict[tuple[str, str, str, bool], float],
    regions: set[str] | None = None,
) -> list[dict[str, Any]]:
    """Catalog rows from the Compute API's lists (``zone`` set on each item) and SKU prices."""
    rows: list[dict[str, Any]] = []
    for mt in machine_types:
        zone = str(mt["zone"]).rsplit("/", 1)[-1]
        region = zone.rsplit("-", 1)[0]
        if regions and region not in regions:
            continue
        family, cpus, gib = _family(mt["name"]), float(mt["guestCpus"]), mt["memoryMb"] / 1024
        cost = {}
        for spot in (False, True):
            core, ram = (
                prices.get(("core", family, region, spot)),
                prices.get(("ram", family, region, spot)),
            )
            cost[spot] = None if core is None or ram is None else round(core * cpus + ram * gib, 5)
        if cost[False] is None:
            continue
        rows.append(
            {"InstanceType": mt["name"], "vCPUs": cpus, "MemoryGiB": round(gib, 2),
             "Price": cost[False], "SpotPrice": cost[True] if cost[True] is not None else "",
             "Region": region, "AvailabilityZone": zone}
        )  # fmt: skip
    for acc in accelerator_types:
        zone = str(acc["zone"]).rsplit("/", 1)[-1]
        region = zone.rsplit("-", 1)[0]
        name = STIX_GPU_NAMES.get(acc["name"])
        price = prices.get(("gpu", acc["name"], region, False))
        if name is None or price is None or (regions and region not in regions):
            continue
        spot_price = prices.get(("gpu", acc["name"], region, True))
        count = 1
        while count <= int(acc.get("maximumCardsPerInstance") or 1):
            rows.append(
                {"AcceleratorName": name, "AcceleratorCount": count,
                 "Price": round(price * count, 5),
                 "SpotPrice": round(spot_price * count, 5) if spot_price is not None else "",
                 "Region": region, "AvailabilityZone": zone}
            )  # fmt: skip
            count *= 2
    rows.sort(
        key=lambda r: (
            r.get("InstanceType", ""),
            r.get("AcceleratorName", ""),
            r["AvailabilityZone"],
            r.get("AcceleratorCount", 0),
        )
    )
    return rows


def _aggregated(kind: str, attribute: str) -> list[dict[str, Any]]:
    from google.protobuf import json_format

    from stix_gcp.session import compute, project_id

    client = compute(kind)
    found = []
    for scope, scoped in client.aggregated_list(request={"project": project_id()}):
        for item in getattr(scoped, attribute):
            data = json_format.MessageToDict(type(item).pb(item), preserving_proto_field_name=False)
            data["zone"] = scope.rsplit("/", 1)[-1]
            found.append(data)
    return found


def _skus() -> list[dict[str, Any]]:
    from stix_gcp.session import BILLING_URL, api_url, rest_session

    session = rest_session()
    url = f"{api_url(BILLING_URL)}/v1/{COMPUTE_SERVICE}/skus"
    found: list[dict[str, Any]] = []
    token = ""
    while True:
        params = {
            "pageSize": "5000",
            "currencyCode": "USD",
            **({"pageToken": token} if token else {}),
        }
        reply = session.get(url, params=params, timeout=120)
        if reply.status_code >= 400:
            raise CatalogError(
                f"gcp: the Billing Catalog API answered {reply.status_code}: {reply.text[:200]}"
            )
        body = reply.json()
        found.extend(body.get("skus") or ())
        token = body.get("nextPageToken") or ""
        if not token:
            return found


def seed_tpu_rows(regions: set[str] | None) -> list[dict[str, Any]]:
    """TPU rows of the shipped seed: Cloud TPU is billed under its own service, not Compute's."""
    with (SEED / "vms.csv").open() as fh:
        return [
            {k: v for k, v in row.items() if k in COLUMNS}
            for row in csv.DictReader(fh)
            if row["AcceleratorName"].lower().startswith("tpu-")
            and (not regions or row["Region"] in regions)
        ]


class GcpCatalog(CatalogSource):
    """Compute Engine prices and offers; ``seed()`` is a small shipped table for offline use."""

    name: ClassVar[str] = "gcp"

    def fetch(self, dest: Path) -> None:
        """Write ``dest/vms.csv`` from the Compute and Billing Catalog APIs."""
        from stix.config import load_config

        configured = load_config().get("gcp.regions")
        regions = {str(r) for r in configured} if configured else None
        try:
            machine_types = _aggregated("MachineTypesClient", "machine_types")
            accelerators = _aggregated("AcceleratorTypesClient", "accelerator_types")
            prices = sku_prices(_skus())
        except StixError:
            raise
        except Exception as exc:
            from stix_gcp.errors import classify, is_google_error

            if is_google_error(exc):
                raise classify(exc, "catalog update") from exc
            raise
        rows = build_rows(machine_types, accelerators, prices, regions)
        rows += seed_tpu_rows(regions)
        if not rows:
            raise CatalogError(
                "gcp: the APIs returned no priced machine type", hint="check gcp.regions"
            )
        with (dest / "vms.csv").open("w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=COLUMNS, restval="")
            writer.writeheader()
            writer.writerows(rows)

    def seed(self) -> Path | None:
        return SEED


__all__ = ["COLUMNS", "GcpCatalog", "build_rows", "sku_prices"]
