"""What one local sandbox node can use: the host's CPUs, memory and GPUs.

GPUs come from ``nvidia-smi`` when present. How many nodes fit: ``local.max_nodes`` in the
config, else four per CPU (at least 16), since every node is a set of real processes. ``$STIX_LOCAL_GPUS`` (``NAME:COUNT``)
declares simulated accelerators instead, so that GPU scheduling is testable anywhere.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

import attrs


@attrs.frozen
class Capacity:
    """Per-node capacity offered by the local cloud."""

    cpus: float
    memory_gib: float
    accelerator: str | None = None
    accelerator_count: int = 0
    gpu_memory_gib: float | None = None


def _cpus() -> float:
    try:
        return float(len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return float(os.cpu_count() or 1)


def _memory_gib() -> float:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return 0.0


def _nvidia() -> tuple[str | None, int, float | None]:
    if not shutil.which("nvidia-smi"):
        return None, 0, None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, 0, None
    rows = [line.split(",") for line in out.strip().splitlines() if line.strip()]
    if not rows:
        return None, 0, None
    name = rows[0][0].strip().replace("NVIDIA ", "").split()[0]
    memory = float(rows[0][1]) / 1024 if len(rows[0]) > 1 and rows[0][1].strip() else None
    return name, len(rows), memory


@functools.lru_cache(maxsize=1)
def host_capacity() -> Capacity:
    """This machine's capacity (cached for the process)."""
    fake = os.environ.get("STIX_LOCAL_GPUS")
    if fake:
        name, _, count = fake.partition(":")
        acc: tuple[str | None, int, float | None] = (name.strip(), int(count or 1), None)
    else:
        acc = _nvidia()
    return Capacity(_cpus(), _memory_gib(), acc[0], acc[1], acc[2])


def max_nodes() -> int:
    """Most sandbox nodes one local cluster may have (``local.max_nodes``, else 4 per CPU)."""
    from stix.config import load_config

    configured = load_config().get("local.max_nodes")
    if configured is not None:
        return int(configured)
    return max(16, 4 * int(_cpus()))
