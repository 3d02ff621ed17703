"""A damaged catalog cache is rebuilt (it is a cache); a binary CSV is one line naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from stix.catalog.cache import CACHE_NAME
from stix.catalog.query import Catalog, OfferFilter
from stix.errors import CatalogError


def _types(cat: Catalog) -> list[str]:
    return sorted(o.instance_type for o in cat.groups(OfferFilter(cpus=64)))


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: os.urandom(len(data)),
        lambda data: data[: len(data) // 3],
        lambda data: data[:100] + b"\xff" * (len(data) - 100),
    ],
)
def test_damaged_cache_is_rebuilt(small_home: Path, damage) -> None:
    vms = small_home / "catalogs" / "beta" / "vms.csv"
    with vms.open("a") as handle:
        handle.write("b-cpu-64,,,64,256,,1.00,,east\n")
    first = Catalog()
    want = _types(first)
    first.close()
    cache = small_home / "catalogs" / CACHE_NAME
    cache.write_bytes(damage(cache.read_bytes()))
    again = Catalog()
    assert _types(again) == want == ["b-cpu-64"]
    assert set(again.rebuilt) == {"alpha", "beta", "gcp"}
    again.close()


def test_binary_csv_is_one_line_naming_the_file(small_home: Path) -> None:
    vms = small_home / "catalogs" / "beta" / "vms.csv"
    vms.write_bytes(b"InstanceType,Price,Region\n" + bytes(range(128, 256)) * 50)
    with pytest.raises(CatalogError) as info:
        Catalog()
    assert str(info.value).startswith(f"{vms}: not a text CSV file")
    task = small_home / "t.yaml"
    task.write_text("resources:\n  cpus: 1\nrun: 'true'\n")
    proc = subprocess.run(
        [sys.executable, "-m", "stix", "launch", "--dryrun", str(task)],
        capture_output=True,
        text=True,
        env={**os.environ, "STIX_HOME": str(small_home)},
    )
    assert proc.returncode == 1
    assert f"Error: {vms}: not a text CSV file" in proc.stderr
    assert "UnicodeDecodeError" not in proc.stderr and "Traceback" not in proc.stderr
