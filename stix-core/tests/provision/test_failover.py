"""The failover loop against a fake zoned cloud, with the real optimizer choosing the order."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from stix.catalog.offer import Offer
from stix.errors import (
    CredentialsError,
    NoCapacityError,
    ProvisionError,
    QuotaError,
    ResourcesUnavailableError,
)
from stix.hookspecs import hookimpl
from stix.interfaces import (
    CheckResult,
    Cloud,
    ClusterInfo,
    InstanceInfo,
    Provisioner,
    ProvisionRecord,
)
from stix.provision.failover import provision_with_failover
from stix.runner.local import LocalRunner
from stix.task import Resources, Task

PLACES = [("r1", "r1-a", 1.0), ("r1", "r1-b", 1.0), ("r2", "r2-a", 2.0)]


class FakeZonedCloud(Cloud):
    """A fake cloud with three zones in two regions; prices make r1 cheapest."""

    name: ClassVar[str] = "fakezoned"
    features: ClassVar[frozenset[str]] = frozenset({"multi_node"})
    uses_catalog: ClassVar[bool] = False
    default_cpus: ClassVar[str] = "2+"

    def check(self) -> CheckResult:
        return CheckResult(True, "fake")

    def live_offers(self, resources: Resources, num_nodes: int) -> list[Offer]:
        return [
            Offer(
                cloud="fakezoned",
                instance_type="f1",
                vcpus=2,
                memory_gib=4,
                price=price,
                region=region,
                zone=zone,
            )
            for region, zone, price in PLACES
        ]


class FakeZonedProvisioner(Provisioner):
    """Fails in the zones listed in ``failures``; records every attempt and teardown."""

    name: ClassVar[str] = "fakezoned"
    failures: ClassVar[dict[str, ProvisionError]] = {}
    attempts: ClassVar[list[str]] = []
    terminated: ClassVar[list[str]] = []
    home: ClassVar[Any] = None

    def run_instances(self, config):
        zone = config.zones[0]
        self.attempts.append(zone)
        if zone in self.failures:
            raise self.failures[zone]
        return ProvisionRecord(
            "fakezoned", config.region, zone, config.cluster_name_on_cloud, "i-0"
        )

    def wait_instances(self, cluster_name_on_cloud, region, state):
        return None

    def get_cluster_info(self, cluster_name_on_cloud, region):
        return ClusterInfo("fakezoned", region, None, (InstanceInfo("i-0", "10.0.0.1"),))

    def query_instances(self, cluster_name_on_cloud, region):
        return {"i-0": "UP"}

    def stop_instances(self, cluster_name_on_cloud, region):
        return None

    def terminate_instances(self, cluster_name_on_cloud, region):
        self.terminated.append(region)

    def get_command_runners(self, info):
        return [LocalRunner(self.home, "fake")]


class FakeZonedPlugin:
    @hookimpl
    def register_clouds(self, register):
        register(FakeZonedCloud)

    @hookimpl
    def register_provisioners(self, register):
        register(FakeZonedProvisioner)


@pytest.fixture
def fake(stix_home, register_plugin, tmp_path, monkeypatch):
    monkeypatch.setenv("STIX_RETRY_BACKOFF", "0")
    FakeZonedProvisioner.failures = {}
    FakeZonedProvisioner.attempts = []
    FakeZonedProvisioner.terminated = []
    FakeZonedProvisioner.home = tmp_path
    register_plugin(FakeZonedPlugin(), "fakezoned")
    return FakeZonedProvisioner


def _provision(**kw):
    task = Task(run="true", resources=(Resources(cloud="fakezoned"),))
    return provision_with_failover(task, cluster_name="c", cluster_name_on_cloud="c-1", **kw)


def test_first_choice_wins(fake):
    done = _provision()
    assert fake.attempts == [done.candidate.zone]
    assert done.candidate.region == "r1"
    assert done.info.head.internal_ip == "10.0.0.1"


def test_zone_failure_tries_the_next_zone(fake):
    fake.failures = {"r1-a": NoCapacityError("no capacity"), "r1-b": NoCapacityError("no capacity")}
    tried: list[str] = []
    done = _provision(on_attempt=lambda c: tried.append(c.zone))
    assert done.candidate.zone == "r2-a"
    assert fake.attempts == tried
    assert sorted(tried[:2]) == ["r1-a", "r1-b"] and tried[2] == "r2-a"
    assert fake.terminated.count("r1") == 2  # each failed attempt cleaned up


def test_quota_blocks_the_whole_region(fake):
    fake.failures = {z: QuotaError("quota") for _, z, _ in PLACES if z.startswith("r1")}
    done = _provision()
    assert done.candidate.region == "r2"
    assert len([z for z in fake.attempts if z.startswith("r1")]) == 1


def test_credentials_block_the_cloud(fake):
    fake.failures = {z: CredentialsError("bad key") for _, z, _ in PLACES}
    with pytest.raises(ResourcesUnavailableError, match="bad key"):
        _provision()
    assert len(fake.attempts) == 1


def test_abort_stops_at_once(fake):
    fake.failures = {z: ProvisionError("invalid image", scope="abort") for _, z, _ in PLACES}
    with pytest.raises(ProvisionError, match="invalid image"):
        _provision()
    assert len(fake.attempts) == 1


def test_retry_until_up_repeats_rounds(fake):
    fake.failures = {z: NoCapacityError("full") for _, z, _ in PLACES}
    with pytest.raises(ResourcesUnavailableError, match="full"):
        _provision(retry_until_up=True, max_rounds=2)
    assert len(fake.attempts) == 6


def test_instance_type_scope_blocks_only_that_type_there():
    from types import SimpleNamespace

    from stix.optimizer import Blocked

    gone = SimpleNamespace(cloud="gpu", region="r1", zone=None, instance_type="1x_a")
    blocked = Blocked.from_candidate(gone, "instance_type")  # type: ignore[arg-type]
    assert blocked.matches("gpu", "r1", None, "1x_a")
    assert not blocked.matches("gpu", "r1", None, "1x_b")  # another type in the same region
    assert not blocked.matches("gpu", "r2", None, "1x_a")
    assert Blocked.from_candidate(gone, "zone").matches(
        "gpu", "r1", None, "1x_b"
    )  # zone-less: region
