"""The catalog and optimizer on the full public catalog snapshot in ``../shared/catalogs``."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stix.catalog.query import Catalog
from stix.optimizer import optimize
from stix.plugins import Registry
from stix.task import Task

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "catalogs" / "v8"
CLOUDS = ("azure", "gcp", "lambda", "nebius", "vast")

needs_catalog = pytest.mark.skipif(
    not (SHARED / "gcp" / "vms.csv").is_file(), reason="shared catalog absent"
)


@pytest.fixture(scope="session")
def shared_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A ``$STIX_HOME`` with the shared catalog imported and its cache built (once)."""
    if not (SHARED / "gcp" / "vms.csv").is_file():
        pytest.skip("shared catalog absent")
    from stix.catalog.files import import_skypilot

    home = tmp_path_factory.mktemp("shared-home")
    old = os.environ.get("STIX_HOME")
    os.environ["STIX_HOME"] = str(home)
    try:
        import_skypilot(SHARED)
        Catalog().close()
    finally:
        if old is None:
            os.environ.pop("STIX_HOME", None)
        else:
            os.environ["STIX_HOME"] = old
    yield home


@pytest.fixture
def full(shared_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Catalog]:
    monkeypatch.setenv("STIX_HOME", str(shared_home))
    cat = Catalog()
    yield cat
    cat.close()


def _plan(cat: Catalog, resources: dict[str, Any]) -> Any:
    task = Task.from_yaml_config({"resources": resources})
    return optimize(task, registry=Registry(entry_points=[]), catalog=cat, allowed_clouds=CLOUDS)


def _rows(cloud: str) -> list[dict[str, str]]:
    with (SHARED / cloud / "vms.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _price(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _gcp_pair(host: str, acc: str, count: int) -> dict[str, float]:
    """{zone: host price + accelerator price} straight from gcp/vms.csv."""
    rows = _rows("gcp")
    hosts = {r["AvailabilityZone"]: float(r["Price"]) for r in rows if r["InstanceType"] == host}
    out = {}
    for r in rows:
        if (
            not r["InstanceType"]
            and r["AcceleratorName"] == acc
            and float(r["AcceleratorCount"] or 0) == count
        ):
            zone = r["AvailabilityZone"]
            if zone in hosts:
                out[zone] = round(hosts[zone] + float(r["Price"]), 6)
    return out


@needs_catalog
def test_gcp_fixed_family_and_attachable_gpus_are_launchable_types(full: Catalog) -> None:
    tp = _plan(full, {"infra": "gcp", "accelerators": "A100:8"}).tasks[0]
    pairs = _gcp_pair("a2-highgpu-8g", "A100", 8)
    assert tp.chosen.instance_type == "a2-highgpu-8g"
    assert tp.chosen.hourly_cost == pytest.approx(min(pairs.values()))
    assert tp.chosen.hourly_cost == pytest.approx(pairs[tp.chosen.zone])
    # the default n1 host: 4 vCPUs per T4 or K80, 8 per other device (SkyPilot's sizes)
    for acc, host in (
        ("T4:1", "n1-highmem-4"),
        ("T4:2", "n1-highmem-8"),
        ("V100:1", "n1-highmem-8"),
    ):
        name, count = acc.split(":")
        tp = _plan(full, {"infra": "gcp", "accelerators": acc}).tasks[0]
        assert tp.chosen.instance_type == host
        assert tp.chosen.hourly_cost == pytest.approx(
            min(_gcp_pair(host, name, int(count)).values())
        )
    tp = _plan(full, {"accelerators": "H100-MEGA:8"}).tasks[0]
    assert tp.chosen.instance_type == "a3-megagpu-8g"
    tp = _plan(full, {"accelerators": "tpu-v5litepod-8"}).tasks[0]
    assert (tp.chosen.cloud, tp.chosen.instance_type) == ("gcp", "TPU-VM")


@needs_catalog
def test_a100_8_is_the_cheapest_row_anywhere(full: Catalog) -> None:
    prices = [
        float(r["Price"])
        for cloud in ("azure", "lambda", "nebius", "vast")
        for r in _rows(cloud)
        if r["AcceleratorName"] == "A100"
        and _price(r["AcceleratorCount"]) == 8
        and _price(r["Price"])
    ]
    prices.extend(_gcp_pair("a2-highgpu-8g", "A100", 8).values())
    tp = _plan(full, {"accelerators": "A100:8"}).tasks[0]
    assert tp.chosen.hourly_cost == pytest.approx(min(prices))
    assert len(tp.failover) > 10


# General-purpose families a CPU-only request prefers where a cloud has them (SkyPilot's rule).
FAMILY_GLOBS = {
    "gcp": (
        "n2-standard-*",
        "n2-highmem-*",
        "n2-highcpu-*",
        "n4-standard-*",
        "n4-highmem-*",
        "n4-highcpu-*",
    ),
    "azure": ("Standard_D*s_v5", "Standard_E*s_v5", "Standard_F*s_v2"),
}


@needs_catalog
def test_cpus_4_plus_is_the_cheapest_general_purpose_row(full: Catalog) -> None:
    from fnmatch import fnmatchcase

    gpu_families = ("a2-", "a3-", "a4-", "g2-")
    best = []
    for cloud in CLOUDS:
        rows = [
            r
            for r in _rows(cloud)
            if r["InstanceType"]
            and not r["InstanceType"].startswith(gpu_families)
            and not r["AcceleratorName"]
            and (_price(r["vCPUs"]) or 0) >= 4
            and _price(r["Price"])
        ]
        globs = FAMILY_GLOBS.get(cloud, ())
        family = [r for r in rows if any(fnmatchcase(r["InstanceType"], g) for g in globs)]
        best.extend(float(r["Price"]) for r in (family or rows))
    tp = _plan(full, {"cpus": "4+"}).tasks[0]
    assert tp.chosen.hourly_cost == pytest.approx(min(best))


@needs_catalog
def test_memory_requests_and_spot(full: Catalog) -> None:
    tp = _plan(full, {"accelerators": "80GB+:8", "use_spot": True}).tasks[0]
    assert tp.chosen.use_spot
    name = next(iter(tp.chosen.accelerators))
    assert full.gpu_specs()[name].memory_gib >= 77


@needs_catalog
def test_every_catalog_accelerator_can_be_planned(full: Catalog) -> None:
    failures = []
    for name, counts in full.accelerator_counts().items():
        count = counts[0]
        try:
            tp = _plan(full, {"accelerators": {name: count}}).tasks[0]
        except Exception as exc:  # collect every failure, not just the first
            failures.append(f"{name}:{count}: {exc}")
            continue
        if name not in tp.chosen.accelerators:
            failures.append(f"{name}:{count}: chose {tp.chosen.accelerators}")
    assert failures == []


@needs_catalog
@pytest.mark.parametrize(
    ("resources", "reason", "hint"),
    [
        ({"accelerators": "H100:16"}, "the most any offer has is 8", "nearest feasible: "),
        ({"infra": "gcp/us-centrall"}, "gcp has no region 'us-centrall'", "us-central1"),
        ({"infra": "gcp/us-central1/us-central1-z"}, "no zone 'us-central1-z'", "us-central1-"),
        ({"cpus": 1000}, "resources.cpus: no offer has 1000 vCPUs (the most", "try cpus: "),
        ({"infra": "lambda", "accelerators": "A100", "use_spot": True},
         "resources.use_spot: lambda sells no spot instances", "gpu_1x_a100"),
        ({"infra": "vast", "accelerators": "A100:8"}, "no offer on vast has 8 A100", "A100:"),
        ({"infra": "azure/eastus", "accelerators": "H200:8"},
         "H200:8 is not offered in region eastus", "eastus2"),
        ({"accelerators": "A10O"}, "no catalog offers an accelerator named 'A10O'", "A100"),
        ({"instance_type": "a2-highgpu-8", "infra": "gcp"}, "instance type named", "a2-highgpu-8g"),
    ],
)  # fmt: skip
def test_infeasible_requests_name_the_constraint(
    full: Catalog, resources: dict[str, Any], reason: str, hint: str
) -> None:
    from stix.errors import ResourcesUnavailableError

    with pytest.raises(ResourcesUnavailableError) as err:
        _plan(full, resources)
    assert reason in err.value.message
    assert hint in (err.value.hint or "")


@needs_catalog
def test_lambda_default_is_its_cheapest_30_vcpu_machine(full: Catalog) -> None:
    rows = [
        float(r["Price"])
        for r in _rows("lambda")
        if (_price(r["vCPUs"]) or 0) >= 30 and _price(r["Price"])
    ]
    tp = _plan(full, {"infra": "lambda"}).tasks[0]
    assert tp.chosen.vcpus >= 30
    assert tp.chosen.hourly_cost == pytest.approx(min(rows))
