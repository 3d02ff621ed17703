"""Names and tags that mark the AWS resources STIX creates for a cluster."""

from __future__ import annotations

from typing import Any

TAG_CLUSTER = "stix-cluster"  # cluster_name_on_cloud: how STIX finds a cluster's resources
TAG_CLUSTER_NAME = "stix-cluster-name"  # the user's cluster name
TAG_RANK = "stix-node-rank"  # 0 is the head
TAG_ROLE = "stix-node-role"  # head or worker
TAG_MANAGED = "stix-managed"  # "true" on buckets and other resources STIX created

LIVE_STATES = ("pending", "running", "stopping", "stopped")


def resource_name(cluster_name_on_cloud: str) -> str:
    """Name of the cluster's security group and key pair."""
    return f"stix-{cluster_name_on_cloud}"


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    """``{k: v}`` as the ``[{"Key": k, "Value": v}]`` list EC2 wants."""
    return [{"Key": k, "Value": str(v)} for k, v in tags.items()]


def tag_dict(items: list[dict[str, Any]] | None) -> dict[str, str]:
    """EC2's tag list as a dict."""
    return {t["Key"]: t.get("Value", "") for t in items or []}


def cluster_filters(
    cluster_name_on_cloud: str, states: tuple[str, ...] = LIVE_STATES
) -> list[dict[str, Any]]:
    """``describe_instances`` filters selecting one cluster's nodes in ``states``."""
    filters: list[dict[str, Any]] = [
        {"Name": f"tag:{TAG_CLUSTER}", "Values": [cluster_name_on_cloud]}
    ]
    if states:
        filters.append({"Name": "instance-state-name", "Values": list(states)})
    return filters


__all__ = [
    "LIVE_STATES",
    "TAG_CLUSTER",
    "TAG_CLUSTER_NAME",
    "TAG_MANAGED",
    "TAG_RANK",
    "TAG_ROLE",
    "cluster_filters",
    "resource_name",
    "tag_dict",
    "tag_list",
]
