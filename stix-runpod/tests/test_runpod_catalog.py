"""The RunPod catalog: names, the shipped seed, and ``stix catalog update runpod`` from live stock."""

from __future__ import annotations

import csv
import json
from typing import Any

import pytest
from runpod_fakes import FakeRunpodApi
from stix_runpod.catalog import instance_type, parse_instance_type


def test_instance_type_round_trip() -> None:
    name = instance_type(8, "H100 SXM", "SECURE")
    assert name == "8x_H100-SXM_SECURE"
    assert parse_instance_type(name) == (8, "H100-SXM", "SECURE")
    with pytest.raises(ValueError, match="not a RunPod instance type"):
        parse_instance_type("gpu_8x_a100")


def test_seed_plans_offline_with_spot_prices(cli: Any) -> None:
    result = cli(
        "launch",
        "--dryrun",
        "--json",
        "--infra",
        "runpod",
        "--gpus",
        "RTX4090:2",
        "--use-spot",
        "echo hi",
    )
    assert result.exit_code == 0, result.stderr
    (task,) = json.loads(result.stdout)["tasks"]
    assert (task["cloud"], task["instance_type"]) == ("runpod", "2x_RTX-4090_COMMUNITY")
    assert task["hourly_cost"] == pytest.approx(0.40)


def test_update_reads_prices_and_stock(
    fake_runpod: FakeRunpodApi, cli: Any, stix_home: Any
) -> None:
    fake_runpod.out_of_stock = {"NVIDIA H100 80GB HBM3"}
    result = cli("catalog", "update", "runpod")
    assert result.exit_code == 0, result.stderr
    with (stix_home / "catalogs" / "runpod" / "vms.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert not [r for r in rows if r["AcceleratorName"] == "H100"]
    row = next(
        r for r in rows if r["InstanceType"] == "4x_RTX-4090_COMMUNITY" and r["Region"] == "EU-RO-1"
    )
    assert (row["AcceleratorCount"], row["Price"], row["SpotPrice"], row["vCPUs"]) == (
        "4",
        "1.36",
        "0.8",
        "24",
    )
    assert {r["Region"] for r in rows} == {"US-TX-3", "EU-RO-1", "CA-MTL-1"}
    assert (
        json.loads((stix_home / "catalogs" / "runpod" / "meta.json").read_text())["fetched_at"] > 0
    )
