"""The Vast.ai catalog: offers aggregated into rows, the seed, ``stix catalog update vast``."""

from __future__ import annotations

import csv
import json
from typing import Any

import pytest
from stix_vast.catalog import country, instance_type, parse_instance_type, rows_of
from vast_fakes import FakeVastApi, write_catalog_without_bids


def test_names_and_countries() -> None:
    name = instance_type(2, "RTX 4090", 16, 65536)
    assert name == "2x-RTX_4090-16-65536"
    assert parse_instance_type(name) == (2, "RTX 4090", 16, 65536)
    assert parse_instance_type("1x-RTX_5090-32-65536") == (
        1,
        "RTX 5090",
        32,
        65536,
    )  # public catalogs
    assert (
        country("Texas, US") == "US"
        and country("Denmark, DK, EU") == "DK"
        and country(", CA, NA") == "CA"
    )
    assert country("") is None
    with pytest.raises(ValueError, match=r"not a Vast\.ai instance type"):
        parse_instance_type("gpu_8x_a100")


def test_offers_aggregate_to_the_least_shape_and_cheapest_price() -> None:
    offers = [
        {"gpu_name": "A100 SXM4", "num_gpus": 1, "gpu_ram": 81920, "cpu_cores_effective": 16.0,
         "cpu_ram": 129000, "dph_total": 1.0, "min_bid": 0.5, "geolocation": "Texas, US"},
        {"gpu_name": "A100 SXM4", "num_gpus": 1, "gpu_ram": 81920, "cpu_cores_effective": 12.5,
         "cpu_ram": 100000, "dph_total": 0.9, "min_bid": 0.6, "geolocation": "Oregon, US"},
        {"gpu_name": "A100 SXM4", "num_gpus": 1, "gpu_ram": 81920, "cpu_cores_effective": 32,
         "cpu_ram": 200000, "dph_total": 1.2, "geolocation": "Bavaria, DE"},
        {"gpu_name": "RTX 4090", "num_gpus": 1, "geolocation": "nowhere"},
    ]  # fmt: skip
    rows = rows_of(offers)
    assert [(r["InstanceType"], r["Region"], r["Price"], r["SpotPrice"]) for r in rows] == [
        ("1x-A100_SXM4-12-100000", "DE", 1.2, ""),
        ("1x-A100_SXM4-12-100000", "US", 0.9, 0.5),
    ]
    assert rows[0]["AcceleratorName"] == "A100-80GB" and rows[0]["vCPUs"] == 12


def test_seed_plans_offline(cli: Any) -> None:
    task = _plan_on_vast(cli, "H100:8", "--use-spot")
    assert (task["cloud"], task["instance_type"]) == ("vast", "8x-H100_SXM-128-1474560")


def test_update_searches_live_offers(fake_vast: FakeVastApi, cli: Any, stix_home: Any) -> None:
    result = cli("catalog", "update", "vast")
    assert result.exit_code == 0, result.stderr
    (search,) = fake_vast.searches
    assert search["rentable"] == {"eq": True} and search["num_gpus"] == {"gte": 1}
    with (stix_home / "catalogs" / "vast" / "vms.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    row = next(
        r for r in rows if r["InstanceType"] == "2x-RTX_4090-16-65536" and r["Region"] == "SE"
    )
    assert (row["AcceleratorName"], row["Price"], row["SpotPrice"]) == ("RTX4090", "0.74", "0.38")
    assert {r["Region"] for r in rows} == {"US", "SE", "TW", "DE"}
    assert json.loads((stix_home / "catalogs" / "vast" / "meta.json").read_text())["fetched_at"] > 0


def _plan_on_vast(cli: Any, gpus: str, *flags: str) -> dict[str, Any]:
    """The one task of ``stix launch --dryrun --json --infra vast --gpus GPUS``."""
    result = cli(
        "launch", "--dryrun", "--json", "--infra", "vast", "--gpus", gpus, *flags, "echo hi"
    )
    assert result.exit_code == 0, result.stderr
    (task,) = json.loads(result.stdout)["tasks"]
    return dict(task)


def test_a_catalog_without_bid_prices_plans_spot_at_0_with_a_note(
    cli: Any, stix_home: Any, tmp_path: Any
) -> None:
    from stix.catalog.offer import Offer
    from stix_vast.hooks import NO_BID_PRICE, VastCloud

    folder = write_catalog_without_bids(tmp_path)
    assert cli("catalog", "import", str(folder), "--cloud", "vast").exit_code == 0
    task = _plan_on_vast(cli, "RTX4090:1", "--use-spot")
    assert (task["cloud"], task["hourly_cost"], task["hint"]) == ("vast", 0.0, NO_BID_PRICE)
    assert task["region"] == "Somewhere, SE, EU"  # equal bids: the cheaper on-demand price
    task = _plan_on_vast(cli, "RTX4090:1")
    assert (task["hourly_cost"], task["hint"]) == (0.37, None)
    priced = Offer("vast", "1x-RTX_4090-8-32768", 8, 32, 0.37, spot_price=0.19)
    assert VastCloud().offer_note(priced, True) is None  # a fetched catalog has real bids
