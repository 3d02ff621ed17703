"""The cluster's network, all inside its resource group: VNet, subnet, NSG, public IPs, NICs.

The network security group admits SSH and the task's ``ports`` from anywhere and
all traffic inside the VNet (nodes reach each other). Every node has a static
Standard public IP and one NIC on the cluster's subnet.
"""

from __future__ import annotations

from typing import Any

from stix.errors import ProvisionError

VNET_PREFIX = "10.110.0.0/16"
SUBNET_PREFIX = "10.110.0.0/20"
SUBNET = "default"
FIRST_PORT_PRIORITY = 1100


def names(cluster_name_on_cloud: str) -> dict[str, str]:
    return {"vnet": f"{cluster_name_on_cloud}-vnet", "nsg": f"{cluster_name_on_cloud}-nsg"}


def _port_range(port: str) -> str:
    text = str(port).strip()
    low, _, high = text.partition("-")
    try:
        values = [int(low)] + ([int(high)] if high else [])
    except ValueError:
        raise ProvisionError(f"resources.ports: {port!r} is not a port or range", scope="abort")
    if not all(1 <= v <= 65535 for v in values) or (high and values[0] > values[1]):
        raise ProvisionError(f"resources.ports: {port!r} is out of range", scope="abort")
    return text


def _rule(name: str, priority: int, ports: str) -> dict[str, Any]:
    return {
        "name": name,
        "properties": {
            "protocol": "Tcp",
            "access": "Allow",
            "direction": "Inbound",
            "priority": priority,
            "sourceAddressPrefix": "*",
            "sourcePortRange": "*",
            "destinationAddressPrefix": "*",
            "destinationPortRange": ports,
        },
    }


def security_rules(ports: tuple[str, ...]) -> list[dict[str, Any]]:
    """SSH at priority 1000, then one rule per port or range (VNet traffic is allowed by default)."""
    rules = [_rule("stix-ssh", 1000, "22")]
    for index, port in enumerate(dict.fromkeys(ports)):
        text = _port_range(port)
        rules.append(_rule(f"stix-port-{text}", FIRST_PORT_PRIORITY + index, text))
    return rules


def ensure_network(
    net: Any,
    group: str,
    region: str,
    cluster_name_on_cloud: str,
    ports: tuple[str, ...],
    tags: dict[str, str],
    timeout: float,
) -> str:
    """Create (or update) the NSG and the VNet with its subnet; return the subnet's id."""
    from stix_azure.lro import wait

    n = names(cluster_name_on_cloud)
    nsg = wait(
        net.network_security_groups.begin_create_or_update(
            group,
            n["nsg"],
            {
                "location": region,
                "tags": tags,
                "properties": {"securityRules": security_rules(ports)},
            },
        ),
        f"security group {n['nsg']}",
        timeout,
    )
    vnet = wait(
        net.virtual_networks.begin_create_or_update(
            group,
            n["vnet"],
            {
                "location": region,
                "tags": tags,
                "properties": {
                    "addressSpace": {"addressPrefixes": [VNET_PREFIX]},
                    "subnets": [
                        {
                            "name": SUBNET,
                            "properties": {
                                "addressPrefix": SUBNET_PREFIX,
                                "networkSecurityGroup": {"id": nsg.as_dict()["id"]},
                            },
                        }
                    ],
                },
            },
        ),
        f"virtual network {n['vnet']}",
        timeout,
    )
    subnets = vnet.as_dict().get("properties", {}).get("subnets") or []
    for subnet in subnets:
        if subnet.get("name") == SUBNET and subnet.get("id"):
            return str(subnet["id"])
    raise ProvisionError(f"azure: virtual network {n['vnet']} has no subnet {SUBNET}")


def begin_public_ip(net: Any, group: str, region: str, name: str, tags: dict[str, str]) -> Any:
    """Start creating a static Standard public IP (a poller)."""
    return net.public_ip_addresses.begin_create_or_update(
        group,
        name,
        {
            "location": region,
            "tags": tags,
            "sku": {"name": "Standard"},
            "properties": {"publicIPAllocationMethod": "Static", "publicIPAddressVersion": "IPv4"},
        },
    )


def begin_nic(
    net: Any, group: str, region: str, name: str, subnet_id: str, ip_id: str, tags: dict[str, str]
) -> Any:
    """Start creating a NIC on the cluster subnet with the node's public IP (a poller)."""
    return net.network_interfaces.begin_create_or_update(
        group,
        name,
        {
            "location": region,
            "tags": tags,
            "properties": {
                "ipConfigurations": [
                    {
                        "name": "primary",
                        "properties": {
                            "subnet": {"id": subnet_id},
                            "privateIPAllocationMethod": "Dynamic",
                            "publicIPAddress": {
                                "id": ip_id,
                                "properties": {"deleteOption": "Delete"},
                            },
                        },
                    }
                ]
            },
        },
    )


def addresses(net: Any, group: str, nic_id: str) -> tuple[str, str | None]:
    """``(private IP, public IP or None)`` of a NIC given its resource id."""
    nic = net.network_interfaces.get(group, nic_id.rstrip("/").rsplit("/", 1)[-1]).as_dict()
    configs = (nic.get("properties") or {}).get("ipConfigurations") or [{}]
    props = configs[0].get("properties") or {}
    private = str(props.get("privateIPAddress") or "")
    public = None
    ip_ref = (props.get("publicIPAddress") or {}).get("id")
    if ip_ref:
        ip = net.public_ip_addresses.get(group, ip_ref.rstrip("/").rsplit("/", 1)[-1]).as_dict()
        public = (ip.get("properties") or {}).get("ipAddress")
    return private, public


def open_ports(
    net: Any, group: str, cluster_name_on_cloud: str, ports: tuple[str, ...], timeout: float
) -> None:
    """Add rules for ``ports`` to the cluster's NSG, keeping the rules it has."""
    from stix_azure.lro import wait

    n = names(cluster_name_on_cloud)
    nsg = net.network_security_groups.get(group, n["nsg"]).as_dict()
    props = nsg.setdefault("properties", {})
    rules = list(props.get("securityRules") or [])
    have = {(r.get("properties") or {}).get("destinationPortRange") for r in rules}
    used = {int((r.get("properties") or {}).get("priority") or 0) for r in rules}
    priority = FIRST_PORT_PRIORITY
    for port in dict.fromkeys(ports):
        text = _port_range(port)
        if text in have:
            continue
        while priority in used:
            priority += 1
        used.add(priority)
        rules.append(_rule(f"stix-port-{text}", priority, text))
    body = {
        "location": nsg.get("location"),
        "tags": nsg.get("tags") or {},
        "properties": {"securityRules": rules},
    }
    wait(
        net.network_security_groups.begin_create_or_update(group, n["nsg"], body),
        f"security group {n['nsg']}",
        timeout,
    )


__all__ = [
    "addresses",
    "begin_nic",
    "begin_public_ip",
    "ensure_network",
    "names",
    "open_ports",
    "security_rules",
]
