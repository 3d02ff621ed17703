"""Turn GCP's three kinds of catalog rows into launchable offers.

GCP's ``vms.csv`` mixes host VMs, accelerators without an instance type (priced
per zone, attached to an ``n1`` host or sold only inside a fixed family such as
``a2-highgpu``) and TPUs. Here each accelerator row is paired with its hosts in
the same zone and the two prices are summed, so the rest of the catalog code
sees plain rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stix.catalog.rows import Row

# Accelerators sold only inside one machine family: (name, count) -> host types.
_FIXED: dict[str, dict[int, tuple[str, ...]]] = {
    "A100": {
        1: ("a2-highgpu-1g",),
        2: ("a2-highgpu-2g",),
        4: ("a2-highgpu-4g",),
        8: ("a2-highgpu-8g",),
        16: ("a2-megagpu-16g",),
    },
    "A100-80GB": {n: (f"a2-ultragpu-{n}g",) for n in (1, 2, 4, 8)},
    "H100": {n: (f"a3-highgpu-{n}g",) for n in (1, 2, 4, 8)},
    "H100-MEGA": {8: ("a3-megagpu-8g",)},
    "H200": {8: ("a3-ultragpu-8g",)},
    "B200": {8: ("a4-highgpu-8g",)},
    "L4": {
        1: ("g2-standard-4", "g2-standard-8", "g2-standard-12", "g2-standard-16", "g2-standard-32"),
        2: ("g2-standard-24",),
        4: ("g2-standard-48",),
        8: ("g2-standard-96",),
    },
}

# Accelerators attached to n1 hosts: (name) -> {count: most vCPUs the host may have}.
_N1_MAX_VCPUS: dict[str, dict[int, int]] = {
    "T4": {1: 48, 2: 48, 4: 96},
    "V100": {1: 12, 2: 24, 4: 48, 8: 96},
    "P100": {1: 16, 2: 32, 4: 96},
    "P4": {1: 24, 2: 48, 4: 96},
    "K80": {1: 8, 2: 16, 4: 32, 8: 64},
}

# vCPUs per device of the default n1 host (8 for the others): T4 and K80 hosts are
# sized as on the AWS machines built around them (g4dn, p2), as SkyPilot sizes them.
_N1_VCPUS_PER_DEVICE = {"T4": 4, "K80": 4}

# Families whose price excludes their built-in accelerators: never offered bare.
_GPU_ONLY_FAMILIES = ("a2-", "a3-", "a4-", "g2-")
_N1_HOST_PREFIXES = ("n1-standard-", "n1-highmem-", "n1-highcpu-")

TPU_VM = "TPU-VM"

# Row kinds stored in the cache.
PLAIN = 0  # a row as the cloud sells it
PAIRED_DEFAULT = 1  # accelerator on the host picked when no cpus/memory are requested
PAIRED_OTHER = 2  # accelerator on another allowed host


def _sum(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a + b, 6)


def _n1_default(name: str, count: int, max_vcpus: int, hosts: Iterable[Row]) -> str | None:
    """The default host among one zone's n1 hosts: the smallest ``n1-highmem`` with the
    wanted vCPUs (per device, up to what the device allows), else the largest allowed."""
    want = min(_N1_VCPUS_PER_DEVICE.get(name, 8) * count, max_vcpus)
    highmem = sorted(
        (h.vcpus, h.instance_type or "")
        for h in hosts
        if (h.instance_type or "").startswith("n1-highmem-") and h.vcpus <= max_vcpus
    )
    enough = [t for v, t in highmem if v >= want]
    return enough[0] if enough else (highmem[-1][1] if highmem else None)


def expand(rows: Iterable[Row]) -> list[tuple[Row, int]]:
    """Launchable ``(row, kind)`` pairs from raw GCP rows."""
    hosts: dict[tuple[str, str | None], Row] = {}
    n1_by_zone: dict[str | None, list[Row]] = {}
    accelerators: list[Row] = []
    out: list[tuple[Row, int]] = []
    for row in rows:
        if row.instance_type:
            hosts[(row.instance_type, row.zone)] = row
            if row.instance_type.startswith(_N1_HOST_PREFIXES):
                n1_by_zone.setdefault(row.zone, []).append(row)
            if not row.instance_type.startswith(_GPU_ONLY_FAMILIES):
                out.append((row, PLAIN))
        elif row.accelerator_name:
            accelerators.append(row)
    for acc in accelerators:
        name = acc.accelerator_name or ""
        count = int(acc.accelerator_count)
        if name.lower().startswith("tpu-"):
            out.append((acc.evolve(instance_type=TPU_VM), PAIRED_DEFAULT))
            continue
        fixed = _FIXED.get(name)
        if fixed is not None:
            for host_type in fixed.get(count, ()):
                host = hosts.get((host_type, acc.zone))
                if host is not None:
                    out.append((_pair(host, acc), PAIRED_DEFAULT))
            continue
        limits = _N1_MAX_VCPUS.get(name)
        if limits is None or count not in limits:
            continue
        zone_hosts = n1_by_zone.get(acc.zone, ())
        default = _n1_default(name, count, limits[count], zone_hosts)
        for host in zone_hosts:
            if host.vcpus <= limits[count]:
                kind = PAIRED_DEFAULT if host.instance_type == default else PAIRED_OTHER
                out.append((_pair(host, acc), kind))
    return out


def _pair(host: Row, acc: Row) -> Row:
    return host.evolve(
        accelerator_name=acc.accelerator_name,
        accelerator_count=acc.accelerator_count,
        gpu_memory_gib=acc.gpu_memory_gib,
        price=round(host.price + acc.price, 6),
        spot_price=_sum(host.spot_price, acc.spot_price),
    )


__all__ = ["PAIRED_DEFAULT", "PAIRED_OTHER", "PLAIN", "TPU_VM", "expand"]
