"""The GCP catalog: built from the (fake) Compute and Billing Catalog APIs by
``stix catalog update gcp``, and the shipped seed that plans L4 at $0.70/hr offline."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from gcp_fakes import FakeComputeApi
from gcp_fakes_more import add_billing, sku

US = ["us-central1", "us-east4", "us-west1"]
SKUS = [
    sku("G2 Instance Core running in Americas", US, 0.02),
    sku("G2 Instance Ram running in Americas", US, 0.004),
    sku("Spot Preemptible G2 Instance Core running in Americas", US, 0.008),
    sku("Spot Preemptible G2 Instance Ram running in Americas", US, 0.0016),
    sku("E2 Instance Core running in Americas", US, 0.021),
    sku("E2 Instance Ram running in Americas", US, 0.0028),
    sku("N1 Predefined Instance Core running in Americas", US, 0.0316),
    sku("N1 Predefined Instance Ram running in Americas", US, 0.0042),
    sku("Nvidia L4 GPU running in Americas", US, 0.50),
    sku("Nvidia L4 GPU attached to Spot Preemptible VMs running in Americas", US, 0.22),
    sku("Nvidia Tesla T4 GPU running in Americas", US, 0.35),
    sku("Licensing Fee for Windows Server", US, 0.04),
    sku("N2 Custom Instance Core running in Americas", US, 0.03),
]


def _rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "vms.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_fetch_prices_hosts_and_gpus_from_the_apis(gce: FakeComputeApi, tmp_path: Path) -> None:
    from stix_gcp.catalog import GcpCatalog

    add_billing(gce, SKUS)
    GcpCatalog().fetch(tmp_path)
    rows = _rows(tmp_path)
    g2 = [r for r in rows if r["InstanceType"] == "g2-standard-4" and r["Region"] == "us-east4"]
    assert {r["AvailabilityZone"] for r in g2} == {"us-east4-a", "us-east4-b", "us-east4-c"}
    assert float(g2[0]["Price"]) == pytest.approx(4 * 0.02 + 16 * 0.004)
    assert float(g2[0]["SpotPrice"]) == pytest.approx(4 * 0.008 + 16 * 0.0016)
    l4 = [r for r in rows if r["AcceleratorName"] == "L4" and r["AvailabilityZone"] == "us-east4-a"]
    assert sorted(int(r["AcceleratorCount"]) for r in l4) == [1, 2, 4, 8]
    one = next(r for r in l4 if r["AcceleratorCount"] == "1")
    assert float(one["Price"]) == pytest.approx(0.50) and float(one["SpotPrice"]) == pytest.approx(
        0.22
    )
    # no SKU for N2 (only a custom one) or europe: those types are left out, not priced at 0
    assert not [r for r in rows if r["InstanceType"].startswith("n2-")]
    assert not [
        r
        for r in rows
        if r["Region"] == "europe-west4" and not r["AcceleratorName"].startswith("tpu-")
    ]
    assert [r for r in rows if r["AcceleratorName"] == "tpu-v5litepod-8"]  # kept from the seed


def test_catalog_update_then_plan_uses_the_fetched_prices(
    gce: FakeComputeApi, cli: Any, tmp_path: Path
) -> None:
    add_billing(gce, SKUS)
    updated = cli("catalog", "update", "gcp")
    assert updated.exit_code == 0, updated.stderr
    task = tmp_path / "t.yaml"
    task.write_text("run: nvidia-smi\n")
    plan = cli("launch", "--gpus", "L4", "--dryrun", str(task))
    assert plan.exit_code == 0, plan.stderr
    assert "Estimated cost: $0.64/hr" in plan.stdout  # 4 * 0.02 + 16 * 0.004 + 0.50


def test_seed_plans_l4_on_gcp_at_70_cents(cli: Any, tmp_path: Path) -> None:
    """With no catalog fetched, the seed prices L4 (g2-standard-4 + one L4, us-east4)."""
    task = tmp_path / "t.yaml"
    task.write_text("run: nvidia-smi\n")
    plan = cli("launch", "--gpus", "L4", "--dryrun", str(task))
    assert plan.exit_code == 0, plan.stderr
    chosen = next(line for line in plan.stdout.splitlines() if line.rstrip().endswith("✔"))
    assert chosen.startswith("gcp/us-east4") and "g2-standard-4" in chosen
    assert "Estimated cost: $0.70/hr" in plan.stdout
