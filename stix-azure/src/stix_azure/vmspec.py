"""What one Azure VM looks like: its image, OS disk, Spot settings, SSH login and tags.

``image_id`` is a marketplace URN (``publisher:offer:sku:version``) or a catalog tag
such as ``skypilot:gpu-ubuntu-2204``. Without one, GPU sizes (N-series) boot the
Data Science VM's Ubuntu HPC image (NVIDIA driver and CUDA installed) and other
sizes Canonical's Ubuntu 22.04 LTS (Gen2).
"""

from __future__ import annotations

import re
from typing import Any

from stix.errors import ProvisionError

DEFAULT_DISK_GB = 256
DEFAULT_SSH_USER = "azureuser"
CPU_IMAGE = "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest"
GPU_IMAGE = "microsoft-dsvm:ubuntu-hpc:2204:latest"
IMAGE_TAGS = {
    "skypilot:gpu-ubuntu-2204": "microsoft-dsvm:ubuntu-hpc:2204:latest",
    "skypilot:cpu-ubuntu-2204": CPU_IMAGE,
    "skypilot:v1-ubuntu-2004": "microsoft-dsvm:ubuntu-2004:2004:latest",
    "skypilot:k80-ubuntu-2004": "microsoft-dsvm:ubuntu-2004:2004-gen2:latest",
}
# managed disk type per disk_tier (OS disks cannot be Ultra or Premium v2)
DISK_TIERS = {
    "low": "Standard_LRS",
    "medium": "StandardSSD_LRS",
    "high": "Premium_LRS",
    "ultra": "Premium_LRS",
    "best": "Premium_LRS",
}
EVICTION_POLICIES = ("Delete", "Deallocate")
_GPU_SIZE = re.compile(r"^Standard_N[CDVG]", re.IGNORECASE)

TAG_CLUSTER = "stix-cluster"
TAG_CLUSTER_NAME = "stix-cluster-name"
TAG_RANK = "stix-rank"
TAG_ROLE = "stix-role"
TAG_NODES = "stix-nodes"
TAG_MANAGED = "stix-managed"


def is_gpu_size(size: str) -> bool:
    return bool(_GPU_SIZE.match(size))


def image_reference(image_id: Any, size: str, region: str) -> dict[str, str]:
    """The ``imageReference`` of a VM from ``resources.image_id`` (or the default image)."""
    if isinstance(image_id, dict):
        image_id = image_id.get(region)
    text = str(image_id) if image_id else (GPU_IMAGE if is_gpu_size(size) else CPU_IMAGE)
    text = IMAGE_TAGS.get(text, text)
    if text.startswith("/subscriptions/"):
        return {"id": text}  # a custom image or gallery image version
    parts = text.split(":")
    if len(parts) != 4 or not all(parts):
        raise ProvisionError(
            f"azure: image_id {text!r} is not a marketplace URN (publisher:offer:sku:version)",
            scope="abort",
        )
    publisher, offer, sku, version = parts
    return {"publisher": publisher, "offer": offer, "sku": sku, "version": version}


def os_disk(name: str, size_gb: Any, tier: Any) -> dict[str, Any]:
    """The OS disk: size (default 256 GB), disk type per tier, deleted with the VM."""
    kind = DISK_TIERS.get(str(tier or "medium").lower())
    if kind is None:
        raise ProvisionError(
            f"azure: disk_tier {tier!r} is not one of {', '.join(DISK_TIERS)}", scope="abort"
        )
    return {
        "name": name,
        "createOption": "FromImage",
        "caching": "ReadWrite",
        "diskSizeGB": int(size_gb or DEFAULT_DISK_GB),
        "managedDisk": {"storageAccountType": kind},
        "deleteOption": "Delete",
    }


def spot_settings(eviction_policy: Any) -> dict[str, Any]:
    """``priority``/``evictionPolicy``/``billingProfile`` of a Spot VM (pay up to on-demand)."""
    policy = str(eviction_policy or "Delete").capitalize()
    if policy not in EVICTION_POLICIES:
        raise ProvisionError(
            f"azure.spot_eviction_policy: {eviction_policy!r} is not Delete or Deallocate",
            scope="abort",
        )
    return {"priority": "Spot", "evictionPolicy": policy, "billingProfile": {"maxPrice": -1}}


def vm_body(
    *,
    region: str,
    size: str,
    computer_name: str,
    nic_id: str,
    ssh_user: str,
    public_key: str,
    tags: dict[str, str],
    resources: Any,
    spot_policy: Any,
) -> dict[str, Any]:
    """The JSON body of ``PUT .../virtualMachines/{name}`` for one node."""
    properties: dict[str, Any] = {
        "hardwareProfile": {"vmSize": size},
        "storageProfile": {
            "imageReference": image_reference(getattr(resources, "image_id", None), size, region),
            "osDisk": os_disk(
                f"{computer_name}-osdisk",
                getattr(resources, "disk_size", None),
                getattr(resources, "disk_tier", None),
            ),
        },
        "osProfile": {
            "computerName": computer_name[:64],
            "adminUsername": ssh_user,
            "linuxConfiguration": {
                "disablePasswordAuthentication": True,
                "ssh": {
                    "publicKeys": [
                        {"path": f"/home/{ssh_user}/.ssh/authorized_keys", "keyData": public_key}
                    ]
                },
            },
        },
        "networkProfile": {
            "networkInterfaces": [
                {"id": nic_id, "properties": {"primary": True, "deleteOption": "Delete"}}
            ]
        },
    }
    if getattr(resources, "use_spot", False):
        properties.update(spot_settings(spot_policy))
    return {"location": region, "tags": tags, "properties": properties}


def power_state(view: dict[str, Any] | None) -> str | None:
    """``running``/``deallocated``/... from an instance view's ``PowerState/<x>`` status."""
    for status in (view or {}).get("statuses") or []:
        code = str(status.get("code") or "")
        if code.startswith("PowerState/"):
            return code.split("/", 1)[1]
    return None


# power state -> STIX node status; None (terminated) is decided by absence
STATUS = {
    "running": "UP",
    "starting": "INIT",
    "stopping": "STOPPED",
    "stopped": "STOPPED",
    "deallocating": "STOPPED",
    "deallocated": "STOPPED",
}


__all__ = [
    "CPU_IMAGE",
    "DEFAULT_SSH_USER",
    "DISK_TIERS",
    "GPU_IMAGE",
    "STATUS",
    "TAG_CLUSTER",
    "TAG_CLUSTER_NAME",
    "TAG_MANAGED",
    "TAG_NODES",
    "TAG_RANK",
    "TAG_ROLE",
    "image_reference",
    "is_gpu_size",
    "os_disk",
    "power_state",
    "spot_settings",
    "vm_body",
]
