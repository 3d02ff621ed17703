"""Catalog import, the SQLite cache, GCP pairing and accelerator names, on a small catalog."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from catalog_testkit import DATA
from stix.catalog import files
from stix.catalog.accelerators import GpuSpec, parse_memory_request, resolve, split_request
from stix.catalog.query import Catalog, OfferFilter
from stix.errors import CatalogError


def test_import_writes_folders_and_meta(small_home: Path) -> None:
    root = small_home / "catalogs"
    assert sorted(files.installed()) == ["alpha", "beta", "gcp"]
    assert (root / "gcp" / "images.csv").is_file()
    assert (root / "common" / "metadata.csv").is_file()
    meta = json.loads((root / "alpha" / "meta.json").read_text())
    assert meta["source"].startswith("import:")
    assert time.time() - meta["fetched_at"] < 60


def test_import_single_cloud_folder(stix_home: Path) -> None:
    done = files.import_skypilot(DATA / "beta", cloud="other")
    assert list(done) == ["other"]
    assert Catalog().row_counts() == {"other": 6}  # the row without a price is skipped


def test_import_rejects_a_folder_without_catalogs(stix_home: Path, tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"no vms\.csv"):
        files.import_skypilot(tmp_path)


def test_gcp_rows_are_paired_with_hosts(catalog: Catalog) -> None:
    counts = catalog.row_counts()
    # 5 bare hosts (a2 hosts are not sold bare) + 4 T4 pairs + 2 A100 pairs + 1 TPU
    assert counts["gcp"] == 12
    a100 = catalog.groups(OfferFilter(clouds=("gcp",), accelerators=("A100",), accelerator_count=8))
    assert [(o.instance_type, o.price, o.spot_price) for o in a100] == [
        ("a2-highgpu-8g", 29.47, 9.44)
    ]
    t4 = catalog.groups(
        OfferFilter(
            clouds=("gcp",), accelerators=("T4",), accelerator_count=1, default_hosts_only=True
        )
    )
    assert [(o.instance_type, o.price) for o in t4] == [("n1-highmem-8", 0.82)]
    t4_small = catalog.groups(
        OfferFilter(
            clouds=("gcp",),
            accelerators=("T4",),
            accelerator_count=1,
            cpus=8,
            memory=30,
            memory_at_least=False,
        )
    )
    assert [(o.instance_type, o.price) for o in t4_small] == [("n1-standard-8", 0.73)]
    tpu = catalog.groups(OfferFilter(accelerators=("tpu-v5litepod-8",), accelerator_count=1))
    assert [(o.instance_type, o.spot_price) for o in tpu] == [("TPU-VM", None)]
    bare = catalog.groups(OfferFilter(clouds=("gcp",), cpus=8))
    assert "a2-highgpu-8g" not in {o.instance_type for o in bare}


def test_locations_are_cheapest_first(catalog: Catalog) -> None:
    locs = catalog.locations(OfferFilter(instance_type="a-cpu-4", cpus=4))
    assert [(o.zone, o.price) for o in locs] == [
        ("r1-b", 0.19),
        ("r1-c", 0.19),
        ("r1-a", 0.20),
        ("r2-a", 0.25),
    ]
    spot = catalog.locations(OfferFilter(instance_type="a-cpu-4", cpus=4, use_spot=True))
    assert spot[0].zone == "r2-a"


def test_region_filter_and_exclusions_use_the_row_table(catalog: Catalog) -> None:
    flt = OfferFilter(cpus=4, cpus_at_least=False, clouds=("alpha",), region="r2")
    assert [(o.instance_type, o.price) for o in catalog.groups(flt)] == [("a-cpu-4", 0.25)]
    flt = OfferFilter(cpus=4, clouds=("alpha",), excluded=(("alpha", "r1", None, None),))
    assert {o.region for o in catalog.groups(flt)} == {"r2"}


def test_gpu_memory_from_metadata_and_rows(catalog: Catalog) -> None:
    specs = catalog.gpu_specs()
    assert specs["A100"].memory_gib == 40
    assert specs["A100-80GB"].memory_gib == 80  # beta's GpuInfo has no memory: metadata fills it
    assert specs["T4"].memory_gib == 16
    assert specs["tpu-v5litepod-8"].manufacturer == "google"


def test_cache_rebuilds_only_when_a_csv_changes(small_home: Path) -> None:
    first = Catalog()
    assert set(first.rebuilt) == {"alpha", "beta", "gcp"}
    first.close()
    second = Catalog()
    assert second.rebuilt == []
    second.close()
    vms = small_home / "catalogs" / "beta" / "vms.csv"
    with vms.open("a") as handle:
        handle.write("b-cpu-64,,,64,256,,1.00,,east\n")
    stat = vms.stat()
    os.utime(vms, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    third = Catalog()
    assert third.rebuilt == ["beta"]
    assert [o.instance_type for o in third.groups(OfferFilter(cpus=64))] == ["b-cpu-64"]
    third.close()


def test_removed_catalog_leaves_the_cache(small_home: Path) -> None:
    import shutil

    Catalog().close()
    shutil.rmtree(small_home / "catalogs" / "gcp")
    cat = Catalog()
    assert "gcp" not in cat.row_counts()
    assert "T4" not in cat.gpu_specs()


def test_resolve_names() -> None:
    known = {
        "A100": GpuSpec("A100", 40, "nvidia"),
        "A100-80GB": GpuSpec("A100-80GB", 80, "nvidia"),
        "H100": GpuSpec("H100", 80, "nvidia"),
        "H100-MEGA": GpuSpec("H100-MEGA", 80, "nvidia"),
        "RTX6000-Ada": GpuSpec("RTX6000-Ada", 48, "nvidia"),
        "RTX6000Ada": GpuSpec("RTX6000Ada", 48, "nvidia"),
        "MI300X": GpuSpec("MI300X", 192, "amd"),
        "MI25": GpuSpec("MI25", 16, "amd"),
    }
    assert resolve("a100-80gb", known) == ["A100-80GB"]
    assert resolve("h100-mega", known) == ["H100-MEGA"]
    assert resolve("a100-40gb", known) == ["A100"]
    assert resolve("RTX 6000 Ada", known) == ["RTX6000-Ada", "RTX6000Ada"]
    assert resolve("radeon mi25", known) == ["MI25"]
    assert resolve("80GB+", known) == ["A100-80GB", "H100", "H100-MEGA", "MI300X"]
    assert resolve("nvidia:80GB+", known) == ["A100-80GB", "H100", "H100-MEGA"]
    assert resolve("40GB", known) == ["A100"]
    assert resolve("B300", known) == []


def test_memory_request_forms() -> None:
    assert parse_memory_request("80GB+").at_least  # type: ignore[union-attr]
    assert parse_memory_request("nvidia:48GB").manufacturer == "nvidia"  # type: ignore[union-attr]
    assert parse_memory_request("A100") is None
    assert split_request("nvidia:80GB+:8", 1) == ("nvidia:80GB+", 8.0)
    assert split_request("A100", 2) == ("A100", 2.0)


def test_stale_catalog_prints_one_hint(
    small_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    meta = small_home / "catalogs" / "alpha" / "meta.json"
    data = json.loads(meta.read_text())
    data["fetched_at"] = time.time() - 200 * 3600
    meta.write_text(json.dumps(data))
    files.warn_if_stale(["alpha", "beta"])
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "alpha (8d)" in err
    # an imported catalog is refreshed by importing its folder again
    assert f"stix catalog import --format skypilot {DATA.resolve()}" in err
    data["source"] = "fetch:stix_alpha.catalog"
    meta.write_text(json.dumps(data))
    files.warn_if_stale(["alpha"])
    assert "refresh with: stix catalog update alpha" in capsys.readouterr().err
    (small_home / "config.yaml").write_text("catalog:\n  stale_hours: 0.0001\n")
    meta.write_text(json.dumps({**data, "fetched_at": time.time() - 3 * 3600}))
    files.warn_if_stale(["alpha"])
    assert "alpha (3h)" in capsys.readouterr().err
    (small_home / "config.yaml").write_text("catalog:\n  stale_hours: 1000\n")
    files.warn_if_stale(["alpha"])
    assert capsys.readouterr().err == ""


def test_images(catalog: Catalog) -> None:
    assert (
        catalog.image("gcp", "skypilot:gpu-debian-11") == "projects/example/global/images/gpu-image"
    )
    assert catalog.image("gcp", "nope") is None


def test_concurrent_processes_build_the_cache_once_and_agree(small_home: Path) -> None:
    import subprocess
    import sys

    code = (
        "from stix.catalog.query import Catalog; c = Catalog(); "
        "print(sorted(c.rebuilt), sum(c.row_counts().values()))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert {out.split("] ")[1] for out in outputs} == {"29"}
    assert sum(out.startswith("['alpha', 'beta', 'gcp']") for out in outputs) == 1


def test_catalog_places_lists_a_clouds_regions_and_zones(catalog: Catalog) -> None:
    from stix.catalog.query import catalog_places

    regions, zones = catalog_places("gcp")
    assert regions == catalog.regions("gcp") and regions
    assert zones == catalog.zones("gcp")
    assert catalog_places("no-such-cloud") == ([], [])
