"""Catalogs shaped like GPU marketplaces: spot prices given as 0.00, clouds selling only
GPU machines, and GCP's default n1 host for attachable GPUs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
from stix.catalog.gcp_rows import PAIRED_DEFAULT, PAIRED_OTHER, expand
from stix.catalog.offer import Offer
from stix.catalog.query import Catalog
from stix.catalog.rows import Row, read_vms
from stix.errors import ResourcesUnavailableError
from stix.hookspecs import hookimpl
from stix.interfaces import CheckResult, Cloud
from stix.optimizer import optimize
from stix.plugins import Registry
from stix.task import Task

HEADER = (
    "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region"
)
# A marketplace selling only GPU machines; its public catalog has no bid prices (0.00).
MARKET = [
    "1x-RTX_3060-16-32768,RTX3060,1,16,32,,0.16,0.00,CA",
    "1x-V100-32-65536,V100,1,32,64,,0.18,0.00,NL",
    "1x-A100-32-65536,A100,1,32,64,,0.93,0.00,CZ",
    "2x-A100-32-65536,A100,2,32,64,,1.87,,DE",
]
# A cloud with CPU machines and a GPU machine cheaper than its bigger CPU machine.
MIXED = [
    "m-cpu-4,,,4,16,,0.20,,r1",
    "m-gpu-16,A10,1,16,64,,0.50,,r1",
    "m-cpu-32,,,32,128,,1.60,,r1",
]

NOTE = "spot price from the catalog"


class MarketCloud(Cloud):
    name: ClassVar[str] = "market"
    features: ClassVar[frozenset[str]] = frozenset({"spot"})

    def check(self) -> CheckResult:
        return CheckResult(True, "test cloud")

    def offer_note(self, offer: Offer, use_spot: bool) -> str | None:
        return NOTE if use_spot and offer.spot_price == 0 else None


class MixedCloud(Cloud):
    name: ClassVar[str] = "mixed"

    def check(self) -> CheckResult:
        return CheckResult(True, "test cloud")


class Plugin:
    @hookimpl
    def register_clouds(self, register: Any) -> None:
        register(MarketCloud)
        register(MixedCloud)


@pytest.fixture
def market(stix_home: Path, tmp_path: Path) -> Any:
    from stix.catalog.files import import_skypilot

    for name, rows in (("market", MARKET), ("mixed", MIXED)):
        folder = tmp_path / "v8" / name
        folder.mkdir(parents=True)
        (folder / "vms.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    import_skypilot(tmp_path / "v8")
    registry = Registry(entry_points=[])
    registry.register(Plugin(), "market-test")
    cat = Catalog()
    yield registry, cat
    cat.close()


def plan(market: Any, resources: dict[str, Any], clouds: tuple[str, ...] = ("market",)) -> Any:
    registry, cat = market
    task = Task.from_yaml_config({"resources": resources})
    return optimize(task, registry=registry, catalog=cat, allowed_clouds=clouds).tasks[0]


def test_a_zero_spot_price_is_a_price_and_an_empty_one_is_no_spot_market(
    tmp_path: Path, market: Any
) -> None:
    csv = tmp_path / "v8" / "market" / "vms.csv"
    assert [r.spot_price for r in read_vms(csv)] == [0.0, 0.0, 0.0, None]
    tp = plan(market, {"accelerators": "V100:1", "use_spot": True})
    assert (tp.chosen.instance_type, tp.chosen.hourly_cost) == ("1x-V100-32-65536", 0.0)
    assert tp.chosen.use_spot and tp.chosen.hint == NOTE
    assert plan(market, {"accelerators": "V100:1"}).chosen.hint is None  # on demand: no note
    with pytest.raises(ResourcesUnavailableError, match="spot"):
        plan(market, {"accelerators": "A100:2", "use_spot": True})


def test_equal_spot_prices_go_by_the_on_demand_price(market: Any) -> None:
    tp = plan(market, {"use_spot": True})
    assert [c.instance_type for c in (tp.chosen, *tp.failover)][:3] == [
        "1x-RTX_3060-16-32768",
        "1x-V100-32-65536",
        "1x-A100-32-65536",
    ]
    tp = plan(market, {"accelerators": {"A100:1": None, "V100:1": None}, "use_spot": True})
    assert tp.chosen.instance_type == "1x-V100-32-65536"


def test_cpu_only_request_takes_a_gpu_machine_where_no_cpu_machine_fits(market: Any) -> None:
    tp = plan(market, {"cpus": "2+"})
    assert (tp.chosen.instance_type, tp.chosen.hourly_cost) == ("1x-RTX_3060-16-32768", 0.16)
    tp = plan(market, {"cpus": "20+", "memory": "64+"})
    assert tp.chosen.instance_type == "1x-V100-32-65536"
    # a cloud with a CPU machine that fits keeps to CPU machines ...
    assert plan(market, {"cpus": "4+"}, ("mixed",)).chosen.instance_type == "m-cpu-4"
    assert plan(market, {"cpus": "16+"}, ("mixed",)).chosen.instance_type == "m-cpu-32"
    # ... and across clouds the cheapest wins
    assert plan(market, {"cpus": "4+"}, ("market", "mixed")).chosen.cloud == "market"
    with pytest.raises(
        ResourcesUnavailableError, match=r"64\+ vCPUs \(the most any matching offer has is 32"
    ):
        plan(market, {"cpus": "64+"})


def _row(
    itype: str | None, vcpus: float, price: float, acc: str | None = None, count: int = 0
) -> Row:
    return Row(
        itype, acc, float(count), vcpus, vcpus * 6.5, None, None, price, price / 4, "r", "r-a"
    )


def test_gcp_default_n1_host_has_4_vcpus_per_t4_and_8_per_other_gpu() -> None:
    hosts = [_row(f"n1-highmem-{n}", n, n * 0.06) for n in (2, 4, 8, 16, 32, 64, 96)]
    hosts.append(_row("n1-standard-4", 4, 0.19))
    gpus = [
        _row(None, 0, 0.35, "T4", 1),
        _row(None, 0, 0.70, "T4", 4),
        _row(None, 0, 2.48, "V100", 1),
    ]
    pairs = expand([*hosts, *gpus])
    defaults = {
        (r.accelerator_name, r.accelerator_count): r.instance_type
        for r, kind in pairs
        if kind == PAIRED_DEFAULT
    }
    assert defaults == {
        ("T4", 1.0): "n1-highmem-4",
        ("T4", 4.0): "n1-highmem-16",
        ("V100", 1.0): "n1-highmem-8",
    }
    v100_hosts = {r.instance_type for r, kind in pairs if r.accelerator_name == "V100"}
    assert "n1-highmem-16" not in v100_hosts  # a V100 allows at most 12 vCPUs
    assert any(kind == PAIRED_OTHER and r.instance_type == "n1-standard-4" for r, kind in pairs)
    # a zone without the wanted size takes the next n1-highmem up
    only_big = expand([_row("n1-highmem-8", 8, 0.47), _row(None, 0, 0.35, "T4", 1)])
    assert [(r.instance_type, k) for r, k in only_big if r.accelerator_name] == [
        ("n1-highmem-8", PAIRED_DEFAULT)
    ]
