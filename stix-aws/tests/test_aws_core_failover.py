"""The core's failover loop (real optimizer, real catalog folder) driving the AWS provisioner on moto.

SSH into moto's instances is impossible, so the provisioner under test is the
real one with ``get_command_runners`` returning no runners; everything up to
that point (bootstrap, run, wait, describe, ports, teardown on error) is real.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aws_fakes import FakeCapacityProxy, default_subnets
from stix.errors import ResourcesUnavailableError
from stix.hookspecs import hookimpl
from stix.interfaces import ClusterInfo
from stix.plugins import Registry
from stix.task import Resources, Task
from stix_aws.catalog import COLUMNS, AwsCatalog
from stix_aws.hooks import AwsCloud
from stix_aws.provisioner import AwsProvisioner
from test_aws_provisioner import instances

PLACES = [
    ("us-east-1", "us-east-1a", 0.096),
    ("us-east-1", "us-east-1b", 0.096),
    ("us-east-1", "us-east-1c", 0.096),
    ("us-west-2", "us-west-2a", 0.1),
]


class AwsProvisionerWithoutSsh(AwsProvisioner):
    """The real AWS provisioner; its nodes get no command runners (moto has no SSH)."""

    name: ClassVar[str] = "aws"

    def get_command_runners(self, info: ClusterInfo) -> list[Any]:
        return []


class _Plugin:
    @hookimpl
    def register_clouds(self, register: Any) -> None:
        register(AwsCloud)

    @hookimpl
    def register_catalogs(self, register: Any) -> None:
        register(AwsCatalog)

    @hookimpl
    def register_provisioners(self, register: Any) -> None:
        register(AwsProvisionerWithoutSsh)


@pytest.fixture
def registry(aws: str, stix_home: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    monkeypatch.setenv("STIX_RETRY_BACKOFF", "0")
    folder = stix_home / "catalogs" / "aws"
    folder.mkdir(parents=True)
    with (folder / "vms.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for region, zone, price in PLACES:
            writer.writerow(
                {
                    "InstanceType": "m6i.large",
                    "vCPUs": 2,
                    "MemoryGiB": 8,
                    "Price": price,
                    "SpotPrice": price / 3,
                    "Region": region,
                    "AvailabilityZone": zone,
                    "Arch": "x86_64",
                }
            )
    reg = Registry(entry_points=[])
    reg.register(_Plugin(), "aws")
    return reg


def _launch(registry: Registry, tried: list[str]) -> Any:
    from stix.provision.failover import provision_with_failover

    task = Task(run="true", resources=(Resources(cloud="aws", instance_type="m6i.large"),))
    return provision_with_failover(
        task,
        cluster_name="fo",
        cluster_name_on_cloud="fo-1234",
        registry=registry,
        on_attempt=lambda c: tried.append(f"{c.region}/{c.zone}"),
    )


def test_core_loop_moves_to_the_next_zone(
    registry: Registry, proxy: FakeCapacityProxy, ec2: Any
) -> None:
    subnets = default_subnets(ec2)
    proxy.fail = {subnets[z]: "InsufficientInstanceCapacity" for z in ("us-east-1a", "us-east-1b")}
    tried: list[str] = []
    done = _launch(registry, tried)
    assert tried == ["us-east-1/us-east-1a", "us-east-1/us-east-1b", "us-east-1/us-east-1c"]
    assert (
        done.record.zone == "us-east-1c"
        and done.info.head.instance_id == done.record.head_instance_id
    )
    assert [n["Placement"]["AvailabilityZone"] for n in instances(ec2, "fo-1234")] == ["us-east-1c"]
    AwsProvisioner().terminate_instances("fo-1234", "us-east-1")


def test_core_loop_skips_the_region_on_quota(
    registry: Registry, proxy: FakeCapacityProxy, aws: str
) -> None:
    from aws_fakes import aws_client

    ec2 = aws_client(aws, "ec2")
    proxy.fail = {s: "VcpuLimitExceeded" for s in default_subnets(ec2).values()}
    tried: list[str] = []
    done = _launch(registry, tried)
    assert tried == ["us-east-1/us-east-1a", "us-west-2/us-west-2a"]  # 1b and 1c are not tried
    assert done.record.region == "us-west-2"
    west = aws_client(aws, "ec2", "us-west-2")
    assert len(instances(west, "fo-1234")) == 1
    AwsProvisioner().terminate_instances("fo-1234", "us-west-2")


def test_core_loop_stops_on_bad_credentials(registry: Registry, proxy: FakeCapacityProxy) -> None:
    proxy.fail = {"*": "AuthFailure"}
    tried: list[str] = []
    with pytest.raises(ResourcesUnavailableError, match="credentials rejected"):
        _launch(registry, tried)
    assert tried == ["us-east-1/us-east-1a"]  # the whole cloud is blocked after one attempt
