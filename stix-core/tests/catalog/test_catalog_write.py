"""``stix.catalog.rows.write_vms`` and ``gpu_info_cell``: what a plugin writes, the core reads back."""

from __future__ import annotations

from pathlib import Path

import pytest
from stix.catalog.rows import gpu_info_cell, read_vms, write_vms


def test_written_rows_read_back_with_gpu_memory(tmp_path: Path) -> None:
    rows = [
        {
            "InstanceType": "gpu_8x_a100",
            "AcceleratorName": "A100",
            "AcceleratorCount": 8,
            "vCPUs": 124,
            "MemoryGiB": 1800,
            "GpuInfo": gpu_info_cell("A100", 8, 40960),
            "Price": 15.92,
            "Region": "us-east-1",
        },
        {
            "InstanceType": "cpu_4x",
            "vCPUs": 4,
            "MemoryGiB": 16,
            "Price": 0.2,
            "Region": "us-east-1",
        },
    ]
    path = write_vms(tmp_path, rows)
    assert path == tmp_path / "vms.csv"
    read = {r.instance_type: r for r in read_vms(path)}
    gpu = read["gpu_8x_a100"]
    assert (gpu.accelerator_name, gpu.accelerator_count, gpu.price) == ("A100", 8.0, 15.92)
    assert gpu.gpu_memory_gib == 40.0 and gpu.manufacturer == "nvidia"
    assert gpu.spot_price is None and gpu.zone is None
    cpu = read["cpu_4x"]
    assert cpu.accelerator_name is None and cpu.vcpus == 4.0


def test_unknown_column_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Colour"):
        write_vms(tmp_path, [{"InstanceType": "x", "Colour": "red"}])
