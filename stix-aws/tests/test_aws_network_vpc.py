"""Security groups are looked up in the cluster's VPC only (moto's server, real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from stix.interfaces import ProvisionConfig
from stix.task import Resources
from stix_aws import network
from stix_aws.provisioner import AwsProvisioner


def _config(key: str) -> ProvisionConfig:
    return ProvisionConfig(
        cluster_name="twin",
        cluster_name_on_cloud="twin-9f9f",
        count=1,
        resources=Resources(cloud="aws", instance_type="m6i.large"),
        region="us-east-1",
        ssh_public_key=key,
    )


@pytest.fixture
def other_vpc_group(ec2: Any) -> Iterator[tuple[str, str]]:
    """A group named like the cluster's, in a second VPC: (vpc id, group id)."""
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(
        GroupName="stix-twin-9f9f", Description="someone else's", VpcId=vpc
    )["GroupId"]
    yield vpc, group
    ec2.delete_security_group(GroupId=group)
    ec2.delete_vpc(VpcId=vpc)


def _default_vpc(ec2: Any) -> str:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    return str(vpcs[0]["VpcId"])


def test_find_ignores_a_same_named_group_in_another_vpc(
    aws: str, ec2: Any, other_vpc_group: tuple[str, str]
) -> None:
    other_vpc, other_group = other_vpc_group
    assert network.find_security_group(ec2, "twin-9f9f", _default_vpc(ec2)) is None
    assert network.find_security_group(ec2, "twin-9f9f", other_vpc) == other_group


def test_cluster_gets_its_own_group_and_leaves_the_other_alone(
    aws: str, ec2: Any, ssh_public_key: str, other_vpc_group: tuple[str, str]
) -> None:
    _, other_group = other_vpc_group
    prov = AwsProvisioner()
    config = _config(ssh_public_key)
    prov.run_instances(config)
    try:
        reservations = ec2.describe_instances(
            Filters=[{"Name": "tag:stix-cluster", "Values": ["twin-9f9f"]}]
        )["Reservations"]
        node = next(i for r in reservations for i in r["Instances"])
        ours = node["SecurityGroups"][0]["GroupId"]
        assert ours != other_group
        [group] = ec2.describe_security_groups(GroupIds=[ours])["SecurityGroups"]
        assert group["VpcId"] == _default_vpc(ec2) == node["VpcId"]
        prov.open_ports("twin-9f9f", "us-east-1", ("8443",))
        [other] = ec2.describe_security_groups(GroupIds=[other_group])["SecurityGroups"]
        assert other["IpPermissions"] == []
    finally:
        prov.terminate_instances("twin-9f9f", "us-east-1")
    assert ec2.describe_security_groups(GroupIds=[other_group])["SecurityGroups"]
    assert network.find_security_group(ec2, "twin-9f9f", _default_vpc(ec2)) is None
