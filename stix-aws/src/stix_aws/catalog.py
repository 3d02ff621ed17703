"""The AWS catalog: built from the EC2 and Price List APIs, with a small shipped seed.

``stix catalog update aws`` calls :meth:`AwsCatalog.fetch`. Per region it reads
``describe_instance_types`` (shape, GPUs), ``describe_instance_type_offerings``
(which zones offer a type), ``describe_spot_price_history`` (current spot price
per zone) and the Price List API (on-demand Linux price). Regions come from
``aws.regions`` in the config, else every region enabled for the account.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
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
    "AvailabilityZone",
    "Arch",
)
SEED = Path(__file__).parent / "seed"
PRICING_REGION = "us-east-1"
_PRICE_FILTERS = {
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
    "licenseModel": "No License required",
}


def _regions(given: Iterable[str] | None) -> list[str]:
    if given:
        return list(given)
    from stix.config import load_config

    configured = load_config().get("aws.regions")
    if configured:
        return [str(r) for r in configured]
    from stix_aws.session import client

    found = client("ec2").describe_regions()["Regions"]
    return sorted(r["RegionName"] for r in found if r.get("OptInStatus") != "not-opted-in")


def accelerator(info: dict[str, Any]) -> tuple[str, int, dict[str, Any] | None]:
    """``(name, count, GpuInfo dict)`` of a ``describe_instance_types`` entry (``("", 0, None)`` without)."""
    gpu = info.get("GpuInfo")
    if gpu and gpu.get("Gpus"):
        first = gpu["Gpus"][0]
        name = str(first.get("Name", ""))
        if name == "A100" and (first.get("MemoryInfo") or {}).get("SizeInMiB", 0) >= 80000:
            name = "A100-80GB"
        count = sum(int(g.get("Count", 0)) for g in gpu["Gpus"])
        clean = {
            "Gpus": [
                {
                    "Name": g.get("Name"),
                    "Manufacturer": g.get("Manufacturer"),
                    "Count": g.get("Count"),
                    "MemoryInfo": {"SizeInMiB": (g.get("MemoryInfo") or {}).get("SizeInMiB")},
                }
                for g in gpu["Gpus"]
            ],
            "TotalGpuMemoryInMiB": gpu.get("TotalGpuMemoryInMiB"),
        }
        return name, count, clean
    for key in ("NeuronInfo", "InferenceAcceleratorInfo"):
        devices = (info.get(key) or {}).get("NeuronDevices") or (info.get(key) or {}).get(
            "Accelerators"
        )
        if devices:
            name = str(devices[0].get("Name", "")).capitalize()
            return name, sum(int(d.get("Count", 0)) for d in devices), None
    return "", 0, None


def _chunks(items: list[str], size: int = 100) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def instance_types(ec2: Any, families: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """``{type: {vcpus, memory_gib, acc, acc_count, gpu_info, arch}}`` for one region.

    :param families: only these families (``["m6i", "g5"]``); all types when ``None``.
    """
    out: dict[str, dict[str, Any]] = {}
    params: dict[str, Any] = {}
    if families:
        params["Filters"] = [{"Name": "instance-type", "Values": [f"{f}.*" for f in families]}]
    for page in ec2.get_paginator("describe_instance_types").paginate(**params):
        for info in page.get("InstanceTypes", []):
            name, count, gpu = accelerator(info)
            archs = (info.get("ProcessorInfo") or {}).get("SupportedArchitectures") or ["x86_64"]
            out[info["InstanceType"]] = {
                "vcpus": (info.get("VCpuInfo") or {}).get("DefaultVCpus", 0),
                "memory_gib": round((info.get("MemoryInfo") or {}).get("SizeInMiB", 0) / 1024, 2),
                "acc": name,
                "acc_count": count,
                "gpu_info": gpu,
                "arch": "x86_64" if "x86_64" in archs else archs[0],
            }
    return out


def offerings(ec2: Any, types: list[str] | None = None) -> list[tuple[str, str]]:
    """``(type, zone)`` pairs offered in one region (only ``types`` when given)."""
    pairs = []
    paginator = ec2.get_paginator("describe_instance_type_offerings")
    batches: list[dict[str, Any]] = [{}]
    if types is not None:
        batches = [
            {"Filters": [{"Name": "instance-type", "Values": chunk}]} for chunk in _chunks(types)
        ]
    for extra in batches:
        for page in paginator.paginate(LocationType="availability-zone", **extra):
            for offer in page.get("InstanceTypeOfferings", []):
                pairs.append((offer["InstanceType"], offer["Location"]))
    return pairs


def spot_prices(ec2: Any, types: list[str] | None = None) -> dict[tuple[str, str], float]:
    """Latest Linux spot price per ``(type, zone)`` in one region (only ``types`` when given)."""
    latest: dict[tuple[str, str], tuple[Any, float]] = {}
    paginator = ec2.get_paginator("describe_spot_price_history")
    batches: list[dict[str, Any]] = [{}]
    if types is not None:
        batches = [{"InstanceTypes": chunk} for chunk in _chunks(types)]
    for extra in batches:
        pages = paginator.paginate(
            StartTime=dt.datetime.now(dt.timezone.utc),
            ProductDescriptions=["Linux/UNIX", "Linux/UNIX (Amazon VPC)"],
            **extra,
        )
        for page in pages:
            for item in page.get("SpotPriceHistory", []):
                key = (item["InstanceType"], item["AvailabilityZone"])
                stamp = item.get("Timestamp")
                seen = latest.get(key)
                if seen is None or (stamp is not None and seen[0] is not None and stamp > seen[0]):
                    latest[key] = (stamp, float(item["SpotPrice"]))
    return {key: price for key, (_, price) in latest.items()}


def parse_price_item(text: str) -> tuple[str, float] | None:
    """``(instance type, USD per hour)`` from one Price List API ``PriceList`` entry."""
    item = json.loads(text)
    itype = (item.get("product") or {}).get("attributes", {}).get("instanceType")
    for term in ((item.get("terms") or {}).get("OnDemand") or {}).values():
        for dim in (term.get("priceDimensions") or {}).values():
            usd = (dim.get("pricePerUnit") or {}).get("USD")
            if itype and usd is not None and float(usd) > 0:
                return str(itype), float(usd)
    return None


def on_demand_prices(pricing: Any, region: str) -> dict[str, float]:
    """On-demand Linux price of every instance type in ``region`` (Price List API)."""
    filters = [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}]
    filters += [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in _PRICE_FILTERS.items()]
    prices: dict[str, float] = {}
    for page in pricing.get_paginator("get_products").paginate(
        ServiceCode="AmazonEC2", Filters=filters
    ):
        for text in page.get("PriceList", []):
            parsed = parse_price_item(text)
            if parsed is not None:
                prices.setdefault(*parsed)
    return prices


def seed_prices() -> dict[tuple[str, str], float]:
    """``{(type, region): price}`` from the shipped seed catalog."""
    out: dict[tuple[str, str], float] = {}
    with (SEED / "vms.csv").open(newline="") as handle:
        for rec in csv.DictReader(handle):
            out[(rec["InstanceType"], rec["Region"])] = float(rec["Price"])
    return out


def region_rows(
    region: str, families: list[str] | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Catalog rows of one region, and a warning when prices had to come from the seed."""
    from stix_aws.session import client

    ec2 = client("ec2", region)
    types = instance_types(ec2, families)
    names = sorted(types) if families else None
    spots = spot_prices(ec2, names)
    warning = None
    try:
        prices = on_demand_prices(client("pricing", PRICING_REGION, fast=True), region)
    except Exception as exc:
        from stix_aws.errors import error_code

        seeded = seed_prices()
        prices = {t: p for (t, r), p in seeded.items() if r == region}
        warning = (
            f"aws: {region}: Price List API unavailable ({error_code(exc) or type(exc).__name__}); "
            f"on-demand prices of {len(prices)} types taken from the seed catalog"
        )
    rows = []
    for itype, zone in sorted(offerings(ec2, names)):
        shape = types.get(itype)
        price = prices.get(itype)
        if shape is None or price is None:
            continue
        spot = spots.get((itype, zone))
        rows.append(
            {
                "InstanceType": itype,
                "AcceleratorName": shape["acc"],
                "AcceleratorCount": shape["acc_count"] or "",
                "vCPUs": shape["vcpus"],
                "MemoryGiB": shape["memory_gib"],
                "GpuInfo": repr(shape["gpu_info"]) if shape["gpu_info"] else "",
                "Price": price,
                "SpotPrice": spot if spot is not None else "",
                "Region": region,
                "AvailabilityZone": zone,
                "Arch": shape["arch"],
            }
        )
    return rows, warning


def write_vms(dest: Path, rows: list[dict[str, Any]]) -> Path:
    """Write ``rows`` as ``dest/vms.csv`` in the SkyPilot v8 column layout."""
    path = dest / "vms.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _families(given: Iterable[str] | None) -> list[str] | None:
    if given is not None:
        return list(given)
    from stix.config import load_config

    configured = load_config().get("aws.catalog_families")
    return [str(f) for f in configured] if configured else None


def build(
    dest: Path, regions: Iterable[str] | None = None, families: Iterable[str] | None = None
) -> Path:
    """Fetch every region's rows in parallel and write ``dest/vms.csv``.

    :param regions: default ``aws.regions`` from the config, else every enabled region.
    :param families: only these instance families (default ``aws.catalog_families``, else all).

    :raises stix.errors.CredentialsError: AWS rejected or lacks credentials.
    :raises stix.errors.CatalogError: no region returned a priced row.
    """
    from botocore import exceptions as bexc

    from stix_aws.errors import CREDENTIAL_CODES, CREDENTIALS_HINT, error_code

    try:
        names = _regions(regions)
        wanted = _families(families)
        with ThreadPoolExecutor(max_workers=min(8, len(names) or 1)) as pool:
            results = list(pool.map(lambda r: region_rows(r, wanted), names))
    except (bexc.NoCredentialsError, bexc.PartialCredentialsError) as exc:
        raise CredentialsError(
            "aws: no credentials for the catalog fetch", hint=CREDENTIALS_HINT
        ) from exc
    except bexc.ClientError as exc:
        if error_code(exc) in CREDENTIAL_CODES:
            raise CredentialsError(
                f"aws: catalog fetch rejected: {error_code(exc)}", hint=CREDENTIALS_HINT
            ) from exc
        raise CatalogError(f"aws: catalog fetch failed: {exc}") from exc
    rows = [row for region_rows_, _ in results for row in region_rows_]
    for _, warning in results:
        if warning:
            print(warning, file=sys.stderr)
    if not rows:
        raise CatalogError(f"aws: no priced instance types found in {', '.join(names)}")
    return write_vms(dest, rows)


class AwsCatalog(CatalogSource):
    """Catalog source of the ``aws`` cloud."""

    name: ClassVar[str] = "aws"

    def fetch(self, dest: Path) -> None:
        build(dest)

    def seed(self) -> Path | None:
        return SEED if (SEED / "vms.csv").is_file() else None


__all__ = [
    "COLUMNS",
    "AwsCatalog",
    "accelerator",
    "build",
    "instance_types",
    "offerings",
    "on_demand_prices",
    "parse_price_item",
    "region_rows",
    "seed_prices",
    "spot_prices",
    "write_vms",
]
