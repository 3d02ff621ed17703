"""Machine images and root disks: which AMI a node boots, and its EBS volume.

``image_id`` may be an AMI id, a ``{region: ami}`` mapping, or a tag such as
``skypilot:gpu-ubuntu-2204``. Without one, GPU types boot the newest AWS Deep
Learning Base AMI (NVIDIA driver and CUDA installed) and other types the newest
Ubuntu 22.04 LTS server image from Canonical, for the type's CPU architecture.
"""

from __future__ import annotations

import threading
from typing import Any

from stix.errors import ProvisionError

CANONICAL = "099720109477"
AMAZON = "amazon"
GPU_FAMILIES = ("p2", "p3", "p4", "p5", "p6", "g3", "g4", "g5", "g6", "gr6", "dl1", "trn", "inf")
DEFAULT_DISK_GB = 256

# (owner, name patterns tried in order) per image kind and architecture.
_PATTERNS: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("cpu", "x86_64"): (
        CANONICAL,
        (
            "ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-amd64-server-*",
            "ubuntu/images/hvm-ssd*/ubuntu-*-amd64-server-*",
        ),
    ),
    ("cpu", "arm64"): (
        CANONICAL,
        (
            "ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-arm64-server-*",
            "ubuntu/images/hvm-ssd*/ubuntu-*-arm64-server-*",
        ),
    ),
    ("gpu", "x86_64"): (
        AMAZON,
        (
            "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04)*",
            "Deep Learning Base*Ubuntu*",
            "Deep Learning*Ubuntu*",
        ),
    ),
    ("gpu", "arm64"): (
        AMAZON,
        (
            "Deep Learning ARM64 Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04)*",
            "Deep Learning*ARM64*Ubuntu*",
        ),
    ),
}

# EBS settings per disk_tier: (volume type, IOPS, throughput MiB/s).
DISK_TIERS: dict[str, tuple[str, int | None, int | None]] = {
    "low": ("gp3", 3000, 125),
    "medium": ("gp3", 3500, 250),
    "high": ("gp3", 7000, 500),
    "ultra": ("io2", 20000, None),
    "best": ("io2", 20000, None),
}

_CACHE: dict[tuple[str, str, str], tuple[str, str]] = {}
_LOCK = threading.Lock()


def is_gpu_type(instance_type: str) -> bool:
    """True for instance families with accelerators (p*, g*, trn*, inf*, dl1)."""
    family = instance_type.split(".")[0].lower()
    return any(family.startswith(prefix) for prefix in GPU_FAMILIES)


def architecture(ec2: Any, instance_type: str) -> str:
    """``x86_64`` or ``arm64`` for ``instance_type`` (asks EC2 once per process)."""
    key = ("arch", instance_type, "")
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key][0]
    arch = "x86_64"
    try:
        found = ec2.describe_instance_types(InstanceTypes=[instance_type])["InstanceTypes"]
        archs = found[0]["ProcessorInfo"]["SupportedArchitectures"] if found else []
        if "x86_64" not in archs and "arm64" in archs:
            arch = "arm64"
    except Exception:  # unknown to this endpoint: assume the common case
        arch = "x86_64"
    with _LOCK:
        _CACHE[key] = (arch, "")
    return arch


def _newest(ec2: Any, owner: str, pattern: str, arch: str) -> dict[str, Any] | None:
    images = ec2.describe_images(
        Owners=[owner],
        Filters=[
            {"Name": "name", "Values": [pattern]},
            {"Name": "state", "Values": ["available"]},
            {"Name": "architecture", "Values": [arch]},
        ],
    )["Images"]
    images.sort(key=lambda i: (i.get("CreationDate", ""), i.get("Name", "")))
    return images[-1] if images else None


def default_image(ec2: Any, region: str, instance_type: str, gpu: bool) -> tuple[str, str]:
    """``(ami id, root device name)`` of the default image for ``instance_type`` in ``region``."""
    arch = architecture(ec2, instance_type)
    kind = "gpu" if gpu else "cpu"
    key = (region, kind, arch)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    owner, patterns = _PATTERNS[(kind, arch)]
    for pattern in patterns:
        image = _newest(ec2, owner, pattern, arch)
        if image is not None:
            found = (str(image["ImageId"]), str(image.get("RootDeviceName") or "/dev/sda1"))
            with _LOCK:
                _CACHE[key] = found
            return found
    raise ProvisionError(
        f"aws: no default {kind.upper()} image ({arch}) found in {region}",
        hint="set resources.image_id to an AMI id of that region",
        scope="region",
    )


def requested_image(image_id: str | dict[str, str] | None, region: str) -> str | None:
    """The AMI the task asks for in ``region``; ``None`` means use the default image."""
    if image_id is None:
        return None
    if isinstance(image_id, dict):
        chosen = image_id.get(region)
        if chosen is None:
            raise ProvisionError(
                f"aws: resources.image_id names no image for region {region}", scope="region"
            )
        image_id = chosen
    if image_id.startswith(("skypilot:", "stix:")):
        return None  # a tag for a default image; the accelerator decides which
    if image_id.startswith("docker:"):
        return None  # the container runs on the default image
    return image_id


def root_device(ec2: Any, ami: str) -> str:
    """Root device name of ``ami`` (``/dev/sda1`` if EC2 does not say)."""
    try:
        images = ec2.describe_images(ImageIds=[ami])["Images"]
    except Exception as exc:
        from stix_aws.errors import to_provision_error

        raise to_provision_error(exc, f"image {ami}") from exc
    if not images:
        raise ProvisionError(f"aws: image {ami} not found", scope="region")
    return str(images[0].get("RootDeviceName") or "/dev/sda1")


def block_devices(
    device: str, disk_size: int | None, disk_tier: str | None
) -> list[dict[str, Any]]:
    """The root EBS volume mapping for ``disk_size`` GB at ``disk_tier`` (default medium)."""
    size = int(disk_size or DEFAULT_DISK_GB)
    volume_type, iops, throughput = DISK_TIERS.get(
        (disk_tier or "medium").lower(), DISK_TIERS["medium"]
    )
    ebs: dict[str, Any] = {
        "VolumeSize": size,
        "VolumeType": volume_type,
        "DeleteOnTermination": True,
    }
    if volume_type == "gp3":
        ebs["Iops"] = max(3000, min(iops or 3000, 500 * size, 16000))
        ebs["Throughput"] = max(125, min(throughput or 125, ebs["Iops"] // 4, 1000))
    elif volume_type == "io2":
        ebs["Iops"] = max(100, min(iops or 3000, 1000 * size, 256000))
    return [{"DeviceName": device, "Ebs": ebs}]


__all__ = [
    "DEFAULT_DISK_GB",
    "DISK_TIERS",
    "architecture",
    "block_devices",
    "default_image",
    "is_gpu_type",
    "requested_image",
    "root_device",
]
