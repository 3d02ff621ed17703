"""The Lambda catalog: the shipped seed plans offline; ``stix catalog update lambda`` reads availability."""

from __future__ import annotations

import csv
import json
from typing import Any

import pytest
from lambda_fakes import FakeLambdaApi
from stix_lambda.catalog import SEED, accelerator


@pytest.mark.parametrize(
    ("description", "gpus", "expected"),
    [
        ("8x A100 (40 GB SXM4)", 8, ("A100", 8, 40960)),
        ("8x A100 (80 GB SXM4)", 8, ("A100-80GB", 8, 81920)),
        ("8x Tesla V100 (16 GB)", 8, ("V100", 8, 16384)),
        ("1x GH200 (96 GB)", 1, ("GH200", 1, 98304)),
        ("1x RTX 6000 (24 GB)", 1, ("RTX6000", 1, 24576)),
        ("4x CPU General", 0, ("", 0, None)),
    ],
)
def test_accelerator_from_description(description: str, gpus: int, expected: Any) -> None:
    assert accelerator({"description": description, "specs": {"gpus": gpus}}) == expected


def test_seed_makes_lambda_the_cheapest_a100_8(cli: Any) -> None:
    result = cli("launch", "--dryrun", "--json", "--gpus", "A100:8", "echo hi")
    assert result.exit_code == 0, result.stderr
    (task,) = json.loads(result.stdout)["tasks"]
    assert (task["cloud"], task["instance_type"], task["hourly_cost"]) == (
        "lambda",
        "gpu_8x_a100",
        15.92,
    )
    with (SEED / "vms.csv").open(newline="") as handle:
        regions = {r["Region"] for r in csv.DictReader(handle)}
    assert len(regions) == 5


def test_update_keeps_only_types_with_capacity(
    fake_lambda: FakeLambdaApi, cli: Any, stix_home: Any
) -> None:
    fake_lambda.sold_out = {"gpu_8x_a100"}
    result = cli("catalog", "update", "lambda")
    assert result.exit_code == 0, result.stderr
    with (stix_home / "catalogs" / "lambda" / "vms.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    types = {r["InstanceType"] for r in rows}
    assert "gpu_8x_a100" not in types and "gpu_8x_a100_80gb_sxm4" in types
    big = next(r for r in rows if r["InstanceType"] == "gpu_8x_a100_80gb_sxm4")
    assert (big["AcceleratorName"], big["AcceleratorCount"], big["Price"]) == (
        "A100-80GB",
        "8",
        "22.32",
    )
    assert len([r for r in rows if r["InstanceType"] == "gpu_1x_a10"]) == 5
    meta = json.loads((stix_home / "catalogs" / "lambda" / "meta.json").read_text())
    assert meta["fetched_at"] > 0
    plan = cli("launch", "--dryrun", "--json", "--gpus", "A100:8", "echo hi")
    assert plan.exit_code == 0, plan.stderr
    (task,) = json.loads(plan.stdout)["tasks"]
    assert task["cloud"] != "lambda"  # sold out on Lambda now
