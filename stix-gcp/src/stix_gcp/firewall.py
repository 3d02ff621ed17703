"""Firewall rules of a cluster: SSH always, and the task's ``ports``; removed on down.

Rules target the cluster's network tag, so they open the cluster's nodes only.
Names are derived from the cluster, so creating them again is harmless.
"""

from __future__ import annotations

from typing import Any

from stix_gcp.machines import DEFAULT_NETWORK, network_tag
from stix_gcp.session import compute, project_id


def rule_names(cluster_name_on_cloud: str) -> tuple[str, str]:
    """``(ssh rule, ports rule)`` names of the cluster."""
    tag = network_tag(cluster_name_on_cloud)
    return f"{tag}-ssh"[:63], f"{tag}-ports"[:63]


def _exists(client: Any, name: str) -> bool:
    from google.api_core import exceptions as gexc

    try:
        client.get(project=project_id(), firewall=name)
    except gexc.NotFound:
        return False
    return True


def _ports(ports: tuple[str, ...]) -> list[str]:
    return [str(p).strip() for p in ports if str(p).strip()]


def ensure(
    cluster_name_on_cloud: str, ports: tuple[str, ...] = (), network: str | None = None
) -> None:
    """Create the SSH rule, and the ports rule (or widen it) when ``ports`` are given."""
    from google.api_core import exceptions as gexc
    from google.cloud import compute_v1

    client = compute("FirewallsClient")
    project = project_id()
    tag = network_tag(cluster_name_on_cloud)
    ssh, opened = rule_names(cluster_name_on_cloud)
    wanted = [(ssh, ["22"])]
    if _ports(ports):
        wanted.append((opened, _ports(ports)))
    for name, allowed in wanted:
        rule = compute_v1.Firewall(
            name=name,
            network=network or DEFAULT_NETWORK,
            direction="INGRESS",
            priority=1000,
            source_ranges=["0.0.0.0/0"],
            target_tags=[tag],
            allowed=[compute_v1.Allowed(I_p_protocol="tcp", ports=allowed)],
            description=f"stix cluster {cluster_name_on_cloud}",
        )
        if _exists(client, name):
            if name == opened:
                current = client.get(project=project, firewall=name)
                have = [p for a in current.allowed for p in a.ports]
                merged = list(dict.fromkeys([*have, *allowed]))
                if merged != have:
                    rule.allowed = [compute_v1.Allowed(I_p_protocol="tcp", ports=merged)]
                    client.patch(project=project, firewall=name, firewall_resource=rule).result()
            continue
        try:
            client.insert(project=project, firewall_resource=rule).result()
        except gexc.Conflict:
            pass  # made by a concurrent run


def remove(cluster_name_on_cloud: str) -> None:
    """Delete the cluster's rules; rules already gone are fine."""
    from google.api_core import exceptions as gexc

    client = compute("FirewallsClient")
    for name in rule_names(cluster_name_on_cloud):
        try:
            client.delete(project=project_id(), firewall=name).result()
        except gexc.NotFound:
            pass


__all__ = ["ensure", "remove", "rule_names"]
