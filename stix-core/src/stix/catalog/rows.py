"""Read SkyPilot-v8 catalog CSVs (``vms.csv``, ``images.csv``, ``metadata.csv``), and write ``vms.csv``.

Reading is done only when the SQLite cache is (re)built; queries never parse CSV.
:func:`write_vms` and :func:`gpu_info_cell` are for catalog plugins' ``fetch``.
"""

from __future__ import annotations

import ast
import csv
import functools
import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from stix.errors import CatalogError


class Row(NamedTuple):
    """One ``vms.csv`` row, typed."""

    instance_type: str | None
    accelerator_name: str | None
    accelerator_count: float
    vcpus: float
    memory_gib: float
    gpu_memory_gib: float | None
    manufacturer: str | None
    price: float
    spot_price: float | None
    region: str | None
    zone: str | None

    def evolve(self, **changes: Any) -> Row:
        """A copy with some fields replaced."""
        return self._replace(**changes)


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isnan(value) else value


@functools.lru_cache(maxsize=4096)
def gpu_info(text: str) -> tuple[float | None, str | None]:
    """``(memory GiB of one device, manufacturer)`` from a ``GpuInfo`` cell."""
    text = text.strip()
    if not text.startswith("{"):
        return None, None
    try:
        info = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None, None
    gpus = info.get("Gpus") or [{}] if isinstance(info, dict) else [{}]
    first = gpus[0] if isinstance(gpus[0], dict) else {}
    mib = (first.get("MemoryInfo") or {}).get("SizeInMiB")
    maker = first.get("Manufacturer")
    return (round(mib / 1024, 2) if mib else None), (maker.lower() if maker else None)


@contextmanager
def _csv_file(path: Path) -> Iterator[Any]:
    """An open CSV text file; undecodable or malformed content is one line naming it."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read catalog: {exc.strerror}") from exc
    try:
        with handle:
            yield handle
    except UnicodeDecodeError as exc:
        raise CatalogError(
            f"{path}: not a text CSV file (byte {exc.start} is not UTF-8)",
            hint="stix catalog update (or import the catalog again)",
        ) from None
    except csv.Error as exc:
        raise CatalogError(f"{path}: malformed CSV: {exc}") from None


def read_vms(path: Path) -> list[Row]:
    """Parse a ``vms.csv``; rows without a price are skipped.

    :raises stix.errors.CatalogError: the file lacks the required columns or is not text.
    """
    rows: list[Row] = []
    with _csv_file(path) as handle:
        reader = csv.DictReader(handle)
        missing = {"InstanceType", "Price", "Region"} - set(reader.fieldnames or ())
        if missing:
            raise CatalogError(
                f"{path}: not a SkyPilot vms.csv (missing {', '.join(sorted(missing))})"
            )
        for rec in reader:
            price = _number(rec.get("Price"))
            if price is None:
                continue
            acc = (rec.get("AcceleratorName") or "").strip() or None
            count = _number(rec.get("AcceleratorCount")) or 0.0
            if acc is None or count <= 0:
                acc, count = None, 0.0
            memory, maker = gpu_info(rec.get("GpuInfo") or "") if acc else (None, None)
            rows.append(
                Row(
                    instance_type=(rec.get("InstanceType") or "").strip() or None,
                    accelerator_name=acc,
                    accelerator_count=count,
                    vcpus=_number(rec.get("vCPUs")) or 0.0,
                    memory_gib=_number(rec.get("MemoryGiB")) or 0.0,
                    gpu_memory_gib=memory,
                    manufacturer=maker,
                    price=price,
                    # an empty cell is "no spot market"; 0.00 is a price, as SkyPilot reads it
                    spot_price=_number(rec.get("SpotPrice")),
                    region=(rec.get("Region") or "").strip() or None,
                    zone=(rec.get("AvailabilityZone") or "").strip() or None,
                )
            )
    return rows


def read_gpu_metadata(path: Path) -> list[tuple[str, float | None, str | None]]:
    """``(name, memory GiB, manufacturer)`` rows of ``common/metadata.csv``."""
    out = []
    with _csv_file(path) as handle:
        for rec in csv.DictReader(handle):
            name = (rec.get("GPU") or "").strip()
            if name:
                maker = (rec.get("Manufacturer") or "").strip().lower() or None
                out.append((name, _number(rec.get("MemoryGB")), maker))
    return out


def read_images(path: Path) -> list[tuple[str, str | None, str]]:
    """``(tag, region, image id)`` rows of an ``images.csv``."""
    out = []
    with _csv_file(path) as handle:
        for rec in csv.DictReader(handle):
            tag = (rec.get("Tag") or "").strip()
            image = (rec.get("ImageId") or "").strip()
            if tag and image:
                out.append((tag, (rec.get("Region") or "").strip() or None, image))
    return out


VMS_COLUMNS = (
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


def gpu_info_cell(name: str, count: float, memory_mib: float | None, maker: str = "NVIDIA") -> str:
    """A ``GpuInfo`` cell as SkyPilot writes it, for ``count`` devices of ``memory_mib`` each."""
    info: dict[str, Any] = {"Name": name, "Manufacturer": maker, "Count": count}
    if memory_mib:
        info["MemoryInfo"] = {"SizeInMiB": int(memory_mib)}
    total = int(memory_mib * count) if memory_mib else None
    return repr({"Gpus": [info], "TotalGpuMemoryInMiB": total})


def write_vms(dest: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``rows`` (keyed by :data:`VMS_COLUMNS`; a missing key is an empty cell) to ``dest/vms.csv``.

    Called by a plugin's :meth:`stix.interfaces.CatalogSource.fetch`.

    :param dest: the folder ``fetch`` was given.
    :param rows: one mapping per offer; keys outside :data:`VMS_COLUMNS` are an error.
    :returns: the path written.
    """
    path = dest / "vms.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=VMS_COLUMNS, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


__all__ = [
    "VMS_COLUMNS",
    "Row",
    "gpu_info",
    "gpu_info_cell",
    "read_gpu_metadata",
    "read_images",
    "read_vms",
    "write_vms",
]
