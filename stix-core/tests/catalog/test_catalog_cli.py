"""``stix catalog`` and ``stix gpus list`` through the real CLI entry point."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, ClassVar

from catalog_testkit import DATA
from stix.hookspecs import hookimpl
from stix.interfaces import CatalogSource


class AlphaSource(CatalogSource):
    """Fetches alpha's catalog by copying the fixture (stands in for a pricing API)."""

    name: ClassVar[str] = "alpha"

    def fetch(self, dest: Path) -> None:
        shutil.copyfile(DATA / "alpha" / "vms.csv", dest / "vms.csv")


class SeedOnlySource(CatalogSource):
    name: ClassVar[str] = "beta"

    def fetch(self, dest: Path) -> None:
        raise AssertionError("not called")

    def seed(self) -> Path:
        return DATA / "beta"


class Sources:
    @hookimpl
    def register_catalogs(self, register: Any) -> None:
        register(AlphaSource)
        register(SeedOnlySource)


def test_import_then_ls(cli: Any, registry: Any) -> None:
    result = cli("catalog", "import", "--format", "skypilot", str(DATA))
    assert result.exit_code == 0, result.stderr
    assert "gcp\t12 rows" in result.stdout
    listed = cli("catalog", "ls")
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["CLOUD", "ROWS", "AGE", "PLUGIN", "SOURCE"]
    row = {line.split()[0]: line for line in lines[1:]}
    assert "installed" in row["alpha"]
    assert "pip install stix-gcp" in row["gcp"]
    data = json.loads(cli("catalog", "ls", "--json").stdout)
    assert {d["cloud"]: d["rows"] for d in data} == {"alpha": 11, "beta": 6, "gcp": 12}


def test_update_through_the_plugin_and_seed(cli: Any, registry: Any, stix_home: Path) -> None:
    registry.register(Sources(), "sources")
    result = cli("catalog", "update", "alpha")
    assert result.exit_code == 0, result.stderr
    assert "alpha\t11 rows" in result.stdout
    meta = json.loads((stix_home / "catalogs" / "alpha" / "meta.json").read_text())
    assert meta["source"].startswith("fetch:")
    data = json.loads(cli("catalog", "ls", "--json").stdout)
    by_cloud = {d["cloud"]: d for d in data}
    assert by_cloud["beta"]["source"] == "seed"  # shipped seed serves until an update
    missing = cli("catalog", "update", "nosuch")
    assert missing.exit_code == 1
    assert "no installed plugin provides a catalog for 'nosuch'" in missing.stderr
    assert "Hint: pip install stix-nosuch" in missing.stderr


def test_gpus_list(cli: Any, registry: Any, small_home: Path) -> None:
    summary = cli("gpus", "list")
    assert summary.exit_code == 0, summary.stderr
    assert "A100" in summary.stdout and "1, 8" in summary.stdout
    assert "tpu-v5litepod" in summary.stdout
    detail = cli("gpus", "list", "A100:8")
    rows = [line.split() for line in detail.stdout.splitlines()[1:] if line.startswith("A100")]
    assert [(r[2], r[3]) for r in rows] == [
        ("alpha", "a-gpu-a100-8"),
        ("beta", "b-gpu-a100-8"),
        ("gcp*", "a2-highgpu-8g"),
    ]
    assert "pip install stix-<cloud>" in detail.stdout
    data = json.loads(
        cli("gpus", "list", "a100", "--infra", "alpha", "--all-regions", "--json").stdout
    )
    assert [(d["count"], d["region"]) for d in data] == [(1, "r1"), (8, "r2"), (8, "r1")]
    alias = cli("show-gpus", "T4")
    assert "n1-highmem-8" in alias.stdout
    bad = cli("gpus", "list", "A1000")
    assert bad.exit_code == 1 and "A100" in bad.stderr  # suggestion
    quantities = {
        d["name"]: d["quantities"] for d in json.loads(cli("gpus", "list", "--json").stdout)
    }
    assert quantities["A100"] == [1, 8]
    typo = cli("gpus", "list", "--infra", "alpah")
    assert typo.exit_code == 1
    assert "unknown cloud 'alpah'" in typo.stderr and "did you mean alpha" in typo.stderr
    region = cli("gpus", "list", "A100", "--infra", "alpha/r3")
    assert "alpha has no region 'r3'" in region.stderr and "r1, r2" in region.stderr


def test_show_gpus_is_hidden(cli: Any) -> None:
    assert "show-gpus" not in cli("--help").stdout


class BrokenSeedSource(CatalogSource):
    """A plugin whose shipped seed cannot be located (for example a broken install)."""

    name: ClassVar[str] = "gamma"

    def fetch(self, dest: Path) -> None:
        raise AssertionError("not called")

    def seed(self) -> Path:
        raise RuntimeError("seed folder missing from the wheel")


class BrokenSeed:
    @hookimpl
    def register_catalogs(self, register: Any) -> None:
        register(BrokenSeedSource)


def test_a_plugin_whose_seed_fails_is_skipped(cli: Any, registry: Any, small_home: Path) -> None:
    registry.register(BrokenSeed(), "brokenseed")
    listed = cli("catalog", "ls", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert "gamma" not in {d["cloud"] for d in json.loads(listed.stdout)}
    gpus = cli("gpus", "list")
    assert gpus.exit_code == 0, gpus.stderr
    assert "A100" in gpus.stdout


def test_gpus_list_infra_reads_like_a_task_infra(cli: Any, registry: Any, small_home: Path) -> None:
    # ``*`` means any region, as in a task's ``infra:``; it is not a region name
    anywhere = cli("gpus", "list", "A100:8", "--infra", "alpha/*", "--json")
    assert anywhere.exit_code == 0, anywhere.stderr
    assert {d["cloud"] for d in json.loads(anywhere.stdout)} == {"alpha"}
    bad = cli("gpus", "list", "--infra", "alpha/r1/z1/extra")
    assert bad.exit_code == 1
    assert "--infra" in bad.stderr and "Traceback" not in bad.stderr
