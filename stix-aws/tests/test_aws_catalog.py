"""The AWS catalog: fetched from moto's EC2 answers plus a fake Price List API; the shipped seed."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from aws_fakes import FakePricingServer, price_item
from stix.catalog.rows import read_vms
from stix.errors import CatalogError
from stix_aws.catalog import AwsCatalog, build, parse_price_item, seed_prices

PRICES = {
    ("m6i.large", "us-east-1"): 0.096,
    ("g5.xlarge", "us-east-1"): 1.006,
    ("p4d.24xlarge", "us-east-1"): 32.7726,
    ("m6i.large", "us-west-2"): 0.096,
    ("t3.micro", "eu-west-1"): 0.0114,  # another region: must not leak into us-east-1
}


@pytest.fixture
def pricing(aws: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    fake = FakePricingServer(PRICES, page_size=2)
    monkeypatch.setenv("AWS_ENDPOINT_URL_PRICING", fake.url)
    yield fake
    fake.close()


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_fetch_builds_rows_from_ec2_and_the_price_list(
    pricing: FakePricingServer, tmp_path: Path
) -> None:
    path = build(tmp_path, regions=["us-east-1"], families=["m6i", "g5", "p4d", "t3"])
    rows = _rows(path)
    assert {r["InstanceType"] for r in rows} == {"m6i.large", "g5.xlarge", "p4d.24xlarge"}
    assert {r["Region"] for r in rows} == {"us-east-1"}
    m6i = [r for r in rows if r["InstanceType"] == "m6i.large"]
    assert len(m6i) >= 3 and all(r["AvailabilityZone"].startswith("us-east-1") for r in m6i)
    assert len({r["AvailabilityZone"] for r in m6i}) == len(m6i)  # one row per offering zone
    first = m6i[0]
    assert (first["vCPUs"], float(first["MemoryGiB"]), float(first["Price"])) == ("2", 8.0, 0.096)
    assert first["AcceleratorName"] == "" and first["Arch"] == "x86_64"
    assert float(first["SpotPrice"]) > 0  # moto's spot price history
    p4d = next(r for r in rows if r["InstanceType"] == "p4d.24xlarge")
    assert (p4d["AcceleratorName"], p4d["AcceleratorCount"]) == ("A100", "8")
    # the core reads the file: GPU memory comes from the GpuInfo literal
    parsed = [r for r in read_vms(path) if r.instance_type == "g5.xlarge"]
    assert (
        parsed
        and parsed[0].accelerator_name == "A10G"
        and parsed[0].gpu_memory_gib == pytest.approx(22.35, abs=0.01)
    )
    # paged requests, each filtered to Linux on-demand in one region
    filters = [{f["Field"]: f["Value"] for f in req["Filters"]} for req in pricing.requests]
    assert len(pricing.requests) == 2 and all(f["regionCode"] == "us-east-1" for f in filters)
    assert all(f["operatingSystem"] == "Linux" and f["tenancy"] == "Shared" for f in filters)


def test_catalog_update_installs_it_for_the_optimizer(
    pricing: FakePricingServer, stix_home: Path
) -> None:
    from stix.catalog.files import installed, update
    from stix.config import load_config

    (stix_home / "config.yaml").write_text(
        "aws:\n  regions: [us-east-1, us-west-2]\n  catalog_families: [m6i]\n"
    )
    assert load_config().get("aws.regions") == ["us-east-1", "us-west-2"]
    folder = update("aws", AwsCatalog())
    assert installed()["aws"] == folder
    regions = {r.region for r in read_vms(folder / "vms.csv")}
    assert regions == {"us-east-1", "us-west-2"}


def test_price_list_unavailable_falls_back_to_seed_prices(
    aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_PRICING", f"http://127.0.0.1:{port}")
    rows = _rows(build(tmp_path, regions=["us-east-1"], families=["m6i", "t3", "g5", "x2idn"]))
    seeded = {t for (t, r) in seed_prices() if r == "us-east-1"}
    types = {r["InstanceType"] for r in rows}
    assert types and types <= seeded and "m6i.large" in types
    assert float(next(r for r in rows if r["InstanceType"] == "m6i.large")["Price"]) == 0.096
    assert "Price List API unavailable" in capsys.readouterr().err


def test_fetch_without_credentials_says_how_to_fix(tmp_path: Path) -> None:
    from stix.errors import CredentialsError

    with pytest.raises(CredentialsError) as caught:
        build(tmp_path, regions=["us-east-1"])
    assert caught.value.hint and "aws configure" in caught.value.hint


def test_no_priced_rows_is_an_error(pricing: FakePricingServer, tmp_path: Path) -> None:
    pricing.prices = {}
    with pytest.raises(CatalogError, match="no priced instance types"):
        build(tmp_path, regions=["us-west-2"], families=["m6i"])
    assert not (tmp_path / "vms.csv").exists() or _rows(tmp_path / "vms.csv") == []


@pytest.mark.slow
def test_full_region_fetch_reads_every_type(pricing: FakePricingServer, tmp_path: Path) -> None:
    rows = _rows(build(tmp_path, regions=["us-east-1"]))
    assert {r["InstanceType"] for r in rows} == {"m6i.large", "g5.xlarge", "p4d.24xlarge"}


def test_parse_price_item_reads_the_on_demand_price() -> None:
    assert parse_price_item(price_item("c6i.large", "us-east-1", 0.085)) == ("c6i.large", 0.085)
    assert parse_price_item('{"product": {"attributes": {}}, "terms": {}}') is None


def test_seed_catalog_is_readable_by_the_core() -> None:
    folder = AwsCatalog().seed()
    assert folder is not None
    rows = read_vms(folder / "vms.csv")
    assert {r.region for r in rows} == {"us-east-1", "us-west-2", "eu-west-1"}
    by_type = {(r.instance_type, r.region): r for r in rows}
    g5 = by_type[("g5.xlarge", "us-east-1")]
    assert (g5.accelerator_name, g5.accelerator_count, g5.vcpus, g5.memory_gib) == (
        "A10G",
        1,
        4,
        16,
    )
    assert by_type[("m6i.large", "us-east-1")].price == 0.096
    assert all(r.spot_price is not None and r.spot_price < r.price for r in rows)


def test_stix_catalog_update_aws_cli(pricing: FakePricingServer, stix_home: Path, cli: Any) -> None:
    (stix_home / "config.yaml").write_text(
        "aws:\n  regions: [us-east-1]\n  catalog_families: [m6i, g5]\n"
    )
    done = cli("catalog", "update", "aws")
    assert done.exit_code == 0, done.stderr
    assert "updated aws:" in done.stderr
    count = int(done.stdout.split("\t")[1].split()[0])
    assert count >= 4  # m6i.large and g5.xlarge in every zone offering them
