"""A cluster's network pieces: VPC and subnet choice, its security group, its key pair.

Each cluster gets its own security group (SSH, the requested ``ports``, and all
traffic between its own nodes) and its own imported key pair, both named
``stix-<cluster_name_on_cloud>`` and removed when the cluster is torn down.
"""

from __future__ import annotations

import time
from typing import Any

from stix.errors import ProvisionError

from stix_aws.errors import error_code
from stix_aws.tags import TAG_CLUSTER, TAG_MANAGED, resource_name, tag_list

SSH_PORT = 22
DELETE_TIMEOUT = 300.0


def parse_port(text: str | int) -> tuple[int, int]:
    """``"8080"`` -> (8080, 8080); ``"8000-8010"`` -> (8000, 8010)."""
    value = str(text).strip()
    low, _, high = value.partition("-")
    try:
        first, last = int(low), int(high or low)
    except ValueError:
        raise ProvisionError(f"aws: invalid port {value!r}", scope="abort") from None
    if not (1 <= first <= last <= 65535):
        raise ProvisionError(f"aws: invalid port range {value!r}", scope="abort")
    return first, last


def vpc_id(ec2: Any, provider_config: dict[str, Any], region: str) -> str:
    """The VPC to use: ``provider_config['vpc_id']`` or the region's default VPC."""
    given = provider_config.get("vpc_id")
    if given:
        return str(given)
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise ProvisionError(
            f"aws: region {region} has no default VPC",
            hint="create one (aws ec2 create-default-vpc) or set aws.vpc_id in the config",
            scope="region",
        )
    return str(vpcs[0]["VpcId"])


def subnet_id(ec2: Any, vpc: str, zone: str) -> str:
    """A subnet of ``vpc`` in ``zone``, preferring one that gives public addresses."""
    subnets = ec2.describe_subnets(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc]},
            {"Name": "availability-zone", "Values": [zone]},
        ]
    )["Subnets"]
    if not subnets:
        raise ProvisionError(f"aws: VPC {vpc} has no subnet in zone {zone}", scope="zone")
    subnets.sort(
        key=lambda s: (not s.get("DefaultForAz"), not s.get("MapPublicIpOnLaunch"), s["SubnetId"])
    )
    return str(subnets[0]["SubnetId"])


def find_security_group(ec2: Any, cluster_name_on_cloud: str, vpc: str) -> str | None:
    """The id of the cluster's security group in ``vpc``, or ``None``.

    Group names are unique per VPC only: a same-named group elsewhere is not ours.
    """
    groups = ec2.describe_security_groups(
        Filters=[
            {"Name": "group-name", "Values": [resource_name(cluster_name_on_cloud)]},
            {"Name": "vpc-id", "Values": [vpc]},
        ]
    )["SecurityGroups"]
    return str(groups[0]["GroupId"]) if groups else None


def _permission(first: int, last: int) -> dict[str, Any]:
    return {
        "IpProtocol": "tcp",
        "FromPort": first,
        "ToPort": last,
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
        "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
    }


def _authorize(ec2: Any, group: str, permissions: list[dict[str, Any]]) -> None:
    for perm in permissions:  # one at a time so an existing rule does not hide the others
        try:
            ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[perm])
        except Exception as exc:
            if error_code(exc) != "InvalidPermission.Duplicate":
                raise


def ensure_security_group(
    ec2: Any, cluster_name_on_cloud: str, vpc: str, ports: tuple[str, ...] = ()
) -> str:
    """Create (or find) the cluster's security group and make sure its rules are there."""
    group = find_security_group(ec2, cluster_name_on_cloud, vpc)
    name = resource_name(cluster_name_on_cloud)
    if group is None:
        try:
            group = ec2.create_security_group(
                GroupName=name,
                Description=f"STIX cluster {cluster_name_on_cloud}",
                VpcId=vpc,
                TagSpecifications=[
                    {
                        "ResourceType": "security-group",
                        "Tags": tag_list({TAG_CLUSTER: cluster_name_on_cloud, TAG_MANAGED: "true"}),
                    }
                ],
            )["GroupId"]
        except Exception as exc:
            if error_code(exc) != "InvalidGroup.Duplicate":
                raise
            group = find_security_group(ec2, cluster_name_on_cloud, vpc)
            if group is None:
                raise ProvisionError(
                    f"aws: security group {name} exists but not in VPC {vpc}", scope="region"
                ) from None
    internal = {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group}]}
    wanted = [_permission(SSH_PORT, SSH_PORT), internal]
    wanted += [_permission(*parse_port(p)) for p in ports]
    _authorize(ec2, str(group), wanted)
    return str(group)


def open_ports(ec2: Any, group: str, ports: tuple[str, ...]) -> None:
    """Allow TCP ``ports`` from anywhere on ``group`` (existing rules are kept)."""
    _authorize(ec2, group, [_permission(*parse_port(p)) for p in ports])


def open_port_ranges(ec2: Any, group: str) -> list[tuple[int, int]]:
    """The TCP port ranges open to anyone on ``group`` (for tests and ``status``)."""
    found = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    ranges = []
    for perm in found[0].get("IpPermissions", []) if found else []:
        if perm.get("IpProtocol") == "tcp" and perm.get("IpRanges"):
            ranges.append((int(perm["FromPort"]), int(perm["ToPort"])))
    return sorted(ranges)


def delete_security_group(
    ec2: Any, cluster_name_on_cloud: str, vpc: str, timeout: float = DELETE_TIMEOUT
) -> None:
    """Delete the cluster's security group in ``vpc``; waits while terminating nodes use it."""
    deadline = time.monotonic() + timeout
    delay = 0.5
    while True:
        group = find_security_group(ec2, cluster_name_on_cloud, vpc)
        if group is None:
            return
        try:
            ec2.delete_security_group(GroupId=group)
            return
        except Exception as exc:
            code = error_code(exc)
            if code == "InvalidGroup.NotFound":
                return
            if code != "DependencyViolation" or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def ensure_key_pair(ec2: Any, cluster_name_on_cloud: str, public_key: str) -> str:
    """Import ``public_key`` as the cluster's key pair (kept if already there); its name."""
    name = resource_name(cluster_name_on_cloud)
    try:
        ec2.import_key_pair(
            KeyName=name,
            PublicKeyMaterial=public_key.strip().encode(),
            TagSpecifications=[
                {
                    "ResourceType": "key-pair",
                    "Tags": tag_list({TAG_CLUSTER: cluster_name_on_cloud, TAG_MANAGED: "true"}),
                }
            ],
        )
    except Exception as exc:
        if error_code(exc) != "InvalidKeyPair.Duplicate":
            raise
    return name


def delete_key_pair(ec2: Any, cluster_name_on_cloud: str) -> None:
    """Delete the cluster's key pair (nothing happens when it is gone)."""
    try:
        ec2.delete_key_pair(KeyName=resource_name(cluster_name_on_cloud))
    except Exception as exc:
        if error_code(exc) != "InvalidKeyPair.NotFound":
            raise


__all__ = [
    "delete_key_pair",
    "delete_security_group",
    "ensure_key_pair",
    "ensure_security_group",
    "find_security_group",
    "open_port_ranges",
    "open_ports",
    "parse_port",
    "subnet_id",
    "vpc_id",
]
