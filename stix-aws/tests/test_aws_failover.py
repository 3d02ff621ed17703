"""Failover: AWS errors become zone, region or cloud scoped errors; the next zone is used."""

from __future__ import annotations

from typing import Any

import pytest
from aws_fakes import FakeCapacityProxy, default_subnets
from stix.errors import CredentialsError, NoCapacityError, ProvisionError, QuotaError
from stix_aws.errors import to_provision_error
from stix_aws.provisioner import AwsProvisioner
from test_aws_provisioner import instances, make_config


def _client_error(code: str, message: str = "details") -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": message}}, "RunInstances")


@pytest.mark.parametrize(
    ("code", "kind", "scope"),
    [
        ("InsufficientInstanceCapacity", NoCapacityError, "zone"),
        ("SpotMaxPriceTooLow", NoCapacityError, "zone"),
        ("Unsupported", NoCapacityError, "zone"),
        ("VcpuLimitExceeded", QuotaError, "region"),
        ("MaxSpotInstanceCountExceeded", QuotaError, "region"),
        ("OptInRequired", ProvisionError, "region"),
        ("AuthFailure", CredentialsError, "cloud"),
        ("UnauthorizedOperation", CredentialsError, "cloud"),
        ("InvalidParameterValue", ProvisionError, "abort"),
        ("SomethingNew", ProvisionError, "zone"),
    ],
)
def test_error_codes_map_to_failover_scopes(code: str, kind: type, scope: str) -> None:
    error = to_provision_error(
        _client_error(code, "first line\nsecond line"), "p3.2xlarge in us-east-1a"
    )
    assert type(error) is kind and error.scope == scope
    assert error.message.startswith("aws: p3.2xlarge in us-east-1a: ")
    assert code in error.message and "\n" not in error.message
    if scope == "cloud":
        assert error.hint and "stix check aws" in error.hint


def test_missing_credentials_stop_with_the_fix() -> None:
    from botocore.exceptions import NoCredentialsError

    error = to_provision_error(NoCredentialsError(), "m6i.large in us-east-1a")
    assert isinstance(error, CredentialsError) and error.scope == "cloud" and error.hint


def test_no_capacity_in_the_first_zones_uses_the_next(
    ec2: Any, proxy: FakeCapacityProxy, ssh_public_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    subnets = default_subnets(ec2)
    proxy.fail = {
        subnets["us-east-1a"]: "InsufficientInstanceCapacity",
        subnets["us-east-1b"]: "InsufficientInstanceCapacity",
    }
    config = make_config("hop", ssh_public_key, count=2)
    config = type(config)(
        **{**_fields(config), "zones": ("us-east-1a", "us-east-1b", "us-east-1c")}
    )
    prov = AwsProvisioner()
    record = prov.run_instances(config)
    assert record.zone == "us-east-1c"
    assert proxy.launches == [subnets["us-east-1a"], subnets["us-east-1b"], subnets["us-east-1c"]]
    assert {
        n["Placement"]["AvailabilityZone"] for n in instances(ec2, config.cluster_name_on_cloud)
    } == {"us-east-1c"}
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 2  # one line per failed attempt
    assert "m6i.large in us-east-1a: no capacity (InsufficientInstanceCapacity" in lines[0]
    assert "us-east-1b" in lines[1] and lines[1].endswith("trying the next zone")
    prov.terminate_instances(config.cluster_name_on_cloud, None)


def test_every_zone_full_raises_zone_scoped_error(
    ec2: Any, proxy: FakeCapacityProxy, ssh_public_key: str
) -> None:
    proxy.fail = {"*": "InsufficientInstanceCapacity"}
    config = make_config("full", ssh_public_key, use_spot=True)
    prov = AwsProvisioner()
    with pytest.raises(
        NoCapacityError, match=r"m6i.large \(spot\) in us-east-1.: no capacity"
    ) as caught:
        prov.run_instances(config)
    assert caught.value.scope == "zone"
    offered = ec2.describe_instance_type_offerings(
        LocationType="availability-zone",
        Filters=[{"Name": "instance-type", "Values": ["m6i.large"]}],
    )["InstanceTypeOfferings"]
    subnets = default_subnets(ec2)
    assert sorted(proxy.launches) == sorted(subnets[o["Location"]] for o in offered)
    assert instances(ec2, config.cluster_name_on_cloud) == []
    prov.terminate_instances(
        config.cluster_name_on_cloud, None
    )  # removes the security group and key


@pytest.mark.parametrize(
    ("code", "kind"), [("VcpuLimitExceeded", QuotaError), ("AuthFailure", CredentialsError)]
)
def test_quota_and_auth_errors_stop_the_zone_loop(
    ec2: Any, proxy: FakeCapacityProxy, ssh_public_key: str, code: str, kind: type
) -> None:
    proxy.fail = {"*": code}
    config = make_config("stop", ssh_public_key)
    with pytest.raises(kind):
        AwsProvisioner().run_instances(config)
    assert len(proxy.launches) == 1  # no further zone of the region is tried
    AwsProvisioner().terminate_instances(config.cluster_name_on_cloud, None)


def _fields(config: Any) -> dict[str, Any]:
    import attrs

    return attrs.asdict(config, recurse=False)
