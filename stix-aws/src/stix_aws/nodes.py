"""Finding a cluster's EC2 instances and reading their rank and status."""

from __future__ import annotations

import re
from typing import Any

from stix_aws.tags import (
    LIVE_STATES,
    TAG_CLUSTER,
    TAG_CLUSTER_NAME,
    TAG_RANK,
    cluster_filters,
    tag_dict,
)

# EC2 instance state -> STIX node status (None: gone).
STATUS = {
    "pending": "INIT",
    "running": "UP",
    "stopping": "STOPPED",
    "stopped": "STOPPED",
    "shutting-down": None,
    "terminated": None,
}
_ZONE_ID = re.compile(r"^[a-z]{2,5}\d+-az\d+$")


def describe(
    ec2: Any, cluster_name_on_cloud: str, states: tuple[str, ...] = LIVE_STATES
) -> list[dict[str, Any]]:
    """Every instance of the cluster in ``states`` (all states when empty)."""
    found: list[dict[str, Any]] = []
    paginator = ec2.get_paginator("describe_instances")
    for page in paginator.paginate(Filters=cluster_filters(cluster_name_on_cloud, states)):
        for reservation in page.get("Reservations", []):
            found.extend(reservation.get("Instances", []))
    return found


def state(instance: dict[str, Any]) -> str:
    """EC2 state name of an instance (``running``...)."""
    return str(instance.get("State", {}).get("Name", ""))


def rank(instance: dict[str, Any]) -> int | None:
    """The node rank tag of an instance, ``None`` when missing or invalid."""
    value = tag_dict(instance.get("Tags")).get(TAG_RANK)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def by_rank(instances: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Live instances keyed by rank; untagged ones get the lowest free ranks (launch order).

    The returned instances that had no rank carry ``"_new_rank": True``, so
    the caller can tag them.
    """
    ranked: dict[int, dict[str, Any]] = {}
    loose = []
    for inst in sorted(instances, key=lambda i: (str(i.get("LaunchTime", "")), i["InstanceId"])):
        r = rank(inst)
        if r is None or r in ranked:
            loose.append(inst)
        else:
            ranked[r] = inst
    free = (r for r in range(len(instances) + len(ranked) + 1) if r not in ranked)
    for inst in sorted(loose, key=lambda i: (i.get("AmiLaunchIndex", 0), i["InstanceId"])):
        ranked[next(free)] = {**inst, "_new_rank": True}
    return dict(sorted(ranked.items()))


def zone_names(ec2: Any, zones: tuple[str, ...] | list[str]) -> list[str]:
    """Zone names for ``zones``, accepting zone ids (``use1-az1``) as SkyPilot catalogs use."""
    if not any(_ZONE_ID.match(z) for z in zones):
        return list(zones)
    known = ec2.describe_availability_zones(AllAvailabilityZones=False)["AvailabilityZones"]
    by_id = {z["ZoneId"]: z["ZoneName"] for z in known if "ZoneId" in z}
    return [by_id.get(z, z) for z in zones]


def region_zones(ec2: Any, instance_type: str | None) -> list[str]:
    """Available zones of the client's region, limited to those offering ``instance_type``."""
    known = ec2.describe_availability_zones(Filters=[{"Name": "state", "Values": ["available"]}])[
        "AvailabilityZones"
    ]
    names = sorted(
        z["ZoneName"]
        for z in known
        if z.get("ZoneType", "availability-zone") == "availability-zone"
    )
    if not instance_type:
        return names
    try:
        offers = ec2.describe_instance_type_offerings(
            LocationType="availability-zone",
            Filters=[{"Name": "instance-type", "Values": [instance_type]}],
        )["InstanceTypeOfferings"]
    except Exception:
        return names
    offered = {o["Location"] for o in offers}
    return [z for z in names if z in offered] or names


__all__ = ["STATUS", "by_rank", "describe", "rank", "region_zones", "state", "zone_names"]


def tagged_clusters(ec2: Any, region: str) -> list[dict[str, Any]]:
    """One ``list_clusters`` entry per cluster with a live node tagged ``stix-cluster``."""
    filters = [
        {"Name": "tag-key", "Values": [TAG_CLUSTER]},
        {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
    ]
    found: dict[str, dict[str, Any]] = {}
    for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
        for reservation in page.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                tags = tag_dict(instance.get("Tags"))
                entry = found.setdefault(
                    tags[TAG_CLUSTER],
                    {"cluster_name": None, "cluster_name_on_cloud": tags[TAG_CLUSTER]},
                )
                entry["region"] = region
                entry["cluster_name"] = entry["cluster_name"] or tags.get(TAG_CLUSTER_NAME)
    return list(found.values())
