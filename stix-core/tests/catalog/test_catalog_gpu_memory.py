"""Device memory of multi-GPU catalog rows: per device, never divided by the count twice."""

from __future__ import annotations

from pathlib import Path

from stix.catalog import files
from stix.catalog.query import Catalog, OfferFilter

HEADER = "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,AvailabilityZone\n"


def _gpu_info(name: str, count: int, mib: int) -> str:
    return (
        f"\"{{'Gpus': [{{'Name': '{name}', 'Manufacturer': 'NVIDIA', 'Count': {count}, "
        f"'MemoryInfo': {{'SizeInMiB': {mib}}}}}], 'TotalGpuMemoryInMiB': {mib * count}}}\""
    )


def _catalog(tmp_path: Path, rows: list[str]) -> Catalog:
    folder = tmp_path / "src" / "somecloud"
    folder.mkdir(parents=True)
    (folder / "vms.csv").write_text(HEADER + "".join(rows))
    files.import_skypilot(folder, cloud="somecloud")
    return Catalog()


def test_only_multi_gpu_rows_keep_the_per_device_memory(stix_home: Path, tmp_path: Path) -> None:
    # AWS's p4d.24xlarge as SkyPilot's catalog writes it: 8 x A100, 40 GiB each.
    catalog = _catalog(
        tmp_path,
        [f"p4d.24xlarge,A100,8,96,1152,{_gpu_info('A100', 8, 40960)},32.77,11.47,us-east-1,\n"],
    )
    assert catalog.gpu_specs()["A100"].memory_gib == 40
    (offer,) = catalog.groups(files_filter("A100"))
    assert offer.gpu_memory_gib == 40


def test_rows_whose_gpu_info_holds_the_total_are_divided_once(
    stix_home: Path, tmp_path: Path
) -> None:
    # some marketplaces write the memory of all devices in SizeInMiB
    rows = [
        "2x-h,H100,2,32,128,\"{'Gpus': [{'Name': 'H100', 'MemoryInfo': {'SizeInMiB': 163840}}]}\",4,,r,\n",
        "4x-h,H100,4,64,256,\"{'Gpus': [{'Name': 'H100', 'MemoryInfo': {'SizeInMiB': 327680}}]}\",8,,r,\n",
    ]
    assert _catalog(tmp_path, rows).gpu_specs()["H100"].memory_gib == 80


def test_gpus_list_shows_the_device_memory(cli, tmp_path: Path) -> None:
    _catalog(
        tmp_path,
        [f"p4d.24xlarge,A100,8,96,1152,{_gpu_info('A100', 8, 40960)},32.77,11.47,us-east-1,\n"],
    ).close()
    result = cli("gpus", "list", "A100", "--infra", "somecloud")
    assert result.exit_code == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "p4d.24xlarge" in line)
    assert "40GB" in row.split(), row


def files_filter(name: str) -> OfferFilter:
    return OfferFilter(accelerators=(name,))
