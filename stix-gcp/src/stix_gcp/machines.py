"""What a Compute Engine instance is made of: its insert body, labels, disks, images, GPUs.

Pure functions over plain dicts (the snake_case field names of ``compute_v1.Instance``),
so they are cheap to import and to test; the provisioner turns them into requests.
"""

from __future__ import annotations

import re
from typing import Any

from stix.errors import ProvisionError

LABEL_CLUSTER = "stix-cluster"
LABEL_CLUSTER_NAME = "stix-cluster-name"
LABEL_RANK = "stix-rank"
LABEL_MANAGED = "stix-managed"
DEFAULT_DISK_GB = 256
DEFAULT_NETWORK = "global/networks/default"
CPU_IMAGE = "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts"
GPU_IMAGE = (
    "projects/deeplearning-platform-release/global/images/family/common-cu124-debian-11-py310"
)
# STIX accelerator names -> Compute Engine accelerator types.
ACCELERATOR_TYPES = {
    "T4": "nvidia-tesla-t4",
    "V100": "nvidia-tesla-v100",
    "P100": "nvidia-tesla-p100",
    "P4": "nvidia-tesla-p4",
    "K80": "nvidia-tesla-k80",
    "L4": "nvidia-l4",
    "A100": "nvidia-tesla-a100",
    "A100-80GB": "nvidia-a100-80gb",
    "H100": "nvidia-h100-80gb",
    "H100-MEGA": "nvidia-h100-mega-80gb",
    "H200": "nvidia-h200-141gb",
    "B200": "nvidia-b200",
}
# Families whose machine type includes its GPUs: nothing to attach.
BUILT_IN_GPU_FAMILIES = ("a2-", "a3-", "a4-", "g2-")
DISK_TYPES = {
    "low": "pd-standard",
    "medium": "pd-balanced",
    "high": "pd-ssd",
    "ultra": "hyperdisk-balanced",
    "best": "pd-ssd",
}
_LABEL_BAD = re.compile(r"[^a-z0-9_-]")


def label_value(text: str) -> str:
    """``text`` as a valid label value (lowercase letters, digits, ``-``, ``_``; 63 chars)."""
    return _LABEL_BAD.sub("-", str(text).lower())[:63]


def label_key(text: str) -> str:
    """``text`` as a valid label key (also starts with a letter)."""
    key = label_value(text)
    return key if key[:1].isalpha() else f"k{key}"[:63]


def instance_name(cluster_name_on_cloud: str, rank: int) -> str:
    """Deterministic name of a node, so a retried create finds the earlier one."""
    base = label_value(cluster_name_on_cloud).replace("_", "-")
    suffix = "head" if rank == 0 else f"worker-{rank}"
    return f"{base[: 62 - len(suffix)]}-{suffix}"


def network_tag(cluster_name_on_cloud: str) -> str:
    """The network tag the cluster's firewall rules target."""
    return f"stix-{label_value(cluster_name_on_cloud).replace('_', '-')}"[:63]


def accelerator(resources: Any) -> tuple[str, int] | None:
    """``(name, count)`` of a GPU request (not TPUs), or ``None``."""
    wanted = getattr(resources, "accelerators", None)
    if not wanted:
        return None
    name, count = next(iter(wanted.items()))
    if str(name).lower().startswith("tpu-"):
        return None
    return str(name), int(count)


def guest_accelerators(resources: Any, zone: str) -> list[dict[str, Any]]:
    """The accelerators to attach: GPUs on N1 hosts; none for A2/A3/A4/G2, which have them built in."""
    gpu = accelerator(resources)
    instance_type = str(getattr(resources, "instance_type", "") or "")
    if gpu is None or instance_type.startswith(BUILT_IN_GPU_FAMILIES):
        return []
    name, count = gpu
    kind = ACCELERATOR_TYPES.get(name.upper()) or ACCELERATOR_TYPES.get(name)
    if kind is None:
        raise ProvisionError(
            f"gcp: accelerator {name} is not sold on Compute Engine", scope="abort"
        )
    return [
        {"accelerator_type": f"zones/{zone}/acceleratorTypes/{kind}", "accelerator_count": count}
    ]


def image(resources: Any, region: str) -> str:
    """The boot image: ``image_id`` (a family or full path), else a default for CPU or GPU."""
    wanted = getattr(resources, "image_id", None)
    if isinstance(wanted, dict):
        wanted = wanted.get(region) or next(iter(wanted.values()), None)
    if wanted:
        text = str(wanted)
        for prefix in (
            "https://www.googleapis.com/compute/v1/",
            "https://compute.googleapis.com/compute/v1/",
        ):
            if text.startswith(prefix):
                return text[len(prefix) :]
        if text.startswith(("projects/", "global/")):
            return text
        if "/" not in text:  # a family of public images by name
            return f"projects/ubuntu-os-cloud/global/images/family/{text}"
        raise ProvisionError(
            f"gcp: image_id {text!r}: give a family name or a path projects/P/global/images/...",
            scope="abort",
        )
    instance_type = str(getattr(resources, "instance_type", "") or "")
    if accelerator(resources) or instance_type.startswith(BUILT_IN_GPU_FAMILIES):
        return GPU_IMAGE
    return CPU_IMAGE


def disk(resources: Any, zone: str, image_path: str) -> dict[str, Any]:
    """The boot disk: ``disk_size`` GB (256 by default) of the type ``disk_tier`` names."""
    tier = str(getattr(resources, "disk_tier", None) or "medium").lower()
    kind = DISK_TYPES.get(tier)
    if kind is None:
        raise ProvisionError(
            f"gcp: disk_tier {tier!r} is not one of {', '.join(DISK_TYPES)}", scope="abort"
        )
    return {
        "boot": True,
        "auto_delete": True,
        "initialize_params": {
            "source_image": image_path,
            "disk_size_gb": int(getattr(resources, "disk_size", None) or DEFAULT_DISK_GB),
            "disk_type": f"zones/{zone}/diskTypes/{kind}",
        },
    }


def labels(config: Any, rank: int, extra: dict[str, Any] | None = None) -> dict[str, str]:
    """Labels of a node: the user's, then the cluster, its name and the node's rank."""
    user = {
        **(getattr(config.resources, "labels", None) or {}),
        **(extra or {}),
    }
    out = {label_key(k): label_value(v) for k, v in user.items()}
    out.update(
        {
            LABEL_CLUSTER: label_value(config.cluster_name_on_cloud),
            LABEL_CLUSTER_NAME: label_value(config.cluster_name),
            LABEL_RANK: str(rank),
            LABEL_MANAGED: "true",
        }
    )
    return out


def scheduling(resources: Any) -> dict[str, Any]:
    """Spot (stopped when reclaimed, so ``status --refresh`` sees it) or on-demand; GPUs never migrate."""
    gpu = bool(accelerator(resources)) or str(getattr(resources, "instance_type", "")).startswith(
        BUILT_IN_GPU_FAMILIES
    )
    out: dict[str, Any] = {}
    if getattr(resources, "use_spot", False):
        out.update(
            provisioning_model="SPOT",
            instance_termination_action="STOP",
            automatic_restart=False,
            on_host_maintenance="TERMINATE",
        )
    else:
        out.update(provisioning_model="STANDARD", automatic_restart=True)
        out["on_host_maintenance"] = "TERMINATE" if gpu else "MIGRATE"
    return out


def instance_body(
    config: Any, zone: str, rank: int, ssh_user: str, public_key: str, extra_labels: dict[str, Any]
) -> dict[str, Any]:
    """The ``instances.insert`` body of one node (snake_case ``compute_v1.Instance`` fields)."""
    resources = config.resources
    region = zone.rsplit("-", 1)[0]
    boot_image = image(resources, region)
    network = config.provider_config.get("network") or DEFAULT_NETWORK
    body: dict[str, Any] = {
        "name": instance_name(config.cluster_name_on_cloud, rank),
        "machine_type": f"zones/{zone}/machineTypes/{resources.instance_type}",
        "labels": labels(config, rank, extra_labels),
        "tags": {"items": [network_tag(config.cluster_name_on_cloud)]},
        "metadata": {
            "items": [
                {"key": "ssh-keys", "value": f"{ssh_user}:{public_key.strip()}"},
                {"key": "enable-oslogin", "value": "FALSE"},
            ]
        },
        "disks": [disk(resources, zone, boot_image)],
        "network_interfaces": [
            {
                "network": network,
                "access_configs": [{"name": "External NAT", "type_": "ONE_TO_ONE_NAT"}],
            }
        ],
        "scheduling": scheduling(resources),
        "service_accounts": [
            {"email": "default", "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}
        ],
    }
    if config.provider_config.get("subnetwork"):
        body["network_interfaces"][0]["subnetwork"] = config.provider_config["subnetwork"]
    attached = guest_accelerators(resources, zone)
    if attached:
        body["guest_accelerators"] = attached
    return body


__all__ = [
    "ACCELERATOR_TYPES",
    "LABEL_CLUSTER",
    "LABEL_CLUSTER_NAME",
    "LABEL_MANAGED",
    "LABEL_RANK",
    "disk",
    "guest_accelerators",
    "image",
    "instance_body",
    "instance_name",
    "label_value",
    "labels",
    "network_tag",
    "scheduling",
]
