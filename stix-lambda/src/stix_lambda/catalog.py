"""The Lambda Cloud catalog: ``GET /instance-types`` turned into v8 rows, plus a shipped seed.

``stix catalog update lambda`` writes one row per instance type and region that
has capacity right now (``regions_with_capacity_available``), priced from
``price_cents_per_hour``. The seed under ``seed/`` lists Lambda's public types
and prices in its main regions for offline planning.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from stix.errors import CatalogError, CredentialsError
from stix.interfaces import CatalogSource

SEED = Path(__file__).parent / "seed"
# "8x A100 (40 GB SXM4)", "1x Tesla V100 (16 GB)", "1x GH200 (96 GB)"
_GPU = re.compile(r"(?:(\d+)x\s+)?(?:NVIDIA\s+|Tesla\s+)?(.+?)\s*\((\d+)\s*GB", re.IGNORECASE)


def accelerator(entry: dict[str, Any]) -> tuple[str, int, int | None]:
    """``(name, count, MiB per device)`` of one instance type (``("", 0, None)`` for CPU types)."""
    specs = entry.get("specs") or {}
    count = int(specs.get("gpus") or 0)
    text = str(entry.get("gpu_description") or entry.get("description") or "")
    match = _GPU.search(text)
    if not count or not match:
        return "", 0, None
    name = match.group(2).replace(" ", "").upper()
    gib = int(match.group(3))
    if name == "A100" and gib >= 80:
        name = "A100-80GB"
    return name, count, gib * 1024


def rows_of(types: dict[str, Any]) -> list[dict[str, Any]]:
    """Catalog rows of an ``/instance-types`` answer's ``data``."""
    from stix.catalog.rows import gpu_info_cell

    rows = []
    for name, item in sorted(types.items()):
        entry = item.get("instance_type") or {}
        specs = entry.get("specs") or {}
        acc, count, mib = accelerator(entry)
        for region in item.get("regions_with_capacity_available") or []:
            rows.append(
                {
                    "InstanceType": entry.get("name") or name,
                    "AcceleratorName": acc,
                    "AcceleratorCount": count or "",
                    "vCPUs": specs.get("vcpus", ""),
                    "MemoryGiB": specs.get("memory_gib", ""),
                    "GpuInfo": gpu_info_cell(acc, count, mib) if acc else "",
                    "Price": round(int(entry.get("price_cents_per_hour") or 0) / 100, 4),
                    "Region": region.get("name"),
                }
            )
    return rows


class LambdaCatalog(CatalogSource):
    """Catalog source of the ``lambda`` cloud."""

    name: ClassVar[str] = "lambda"

    def fetch(self, dest: Path) -> None:
        from stix.catalog.rows import write_vms

        from stix_lambda.api import CREDENTIALS_HINT, LambdaApi, LambdaApiError
        from stix_lambda.credentials import api_key

        try:
            types = LambdaApi(api_key()).get("/instance-types") or {}
        except LambdaApiError as exc:
            if exc.status in (401, 403):
                raise CredentialsError(
                    f"lambda: catalog fetch rejected: {exc}", hint=CREDENTIALS_HINT
                ) from exc
            raise CatalogError(f"lambda: catalog fetch failed: {exc}") from exc
        rows = rows_of(types)
        if not rows:
            raise CatalogError("lambda: no instance type has capacity in any region right now")
        write_vms(dest, rows)

    def seed(self) -> Path | None:
        return SEED if (SEED / "vms.csv").is_file() else None


__all__ = ["LambdaCatalog", "accelerator", "rows_of"]
