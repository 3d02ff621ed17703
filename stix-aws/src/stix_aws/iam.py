"""The instance profile of cluster nodes, so a head's agent can stop or tear down its cluster.

By default STIX creates (once per account) a role and instance profile called
``stix-node`` that may describe, stop and terminate only instances tagged
``stix-cluster``, and read and write objects in S3 (for ``file_mounts``). ``aws.instance_profile: <name>`` uses an existing profile
instead, and ``aws.instance_profile: false`` launches nodes without one (then
autostop cannot stop the cluster from the node).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from stix_aws.errors import error_code
from stix_aws.session import client
from stix_aws.tags import TAG_CLUSTER

DEFAULT_PROFILE = "stix-node"

_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["ec2:DescribeInstances"], "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": ["ec2:StopInstances", "ec2:TerminateInstances"],
            "Resource": "*",
            "Condition": {"Null": {f"aws:ResourceTag/{TAG_CLUSTER}": "false"}},
        },
        {
            "Effect": "Allow",
            "Action": [
                "s3:ListBucket",
                "s3:GetBucketLocation",
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
            ],
            "Resource": "*",
        },
    ],
}


def profile_setting(provider_config: dict[str, Any]) -> str | bool | None:
    """``aws.instance_profile`` from the provider config or the STIX config (None = default)."""
    if "instance_profile" in provider_config:
        value: Any = provider_config["instance_profile"]
    else:
        from stix.config import load_config

        value = load_config().get("aws.instance_profile")
    if value is None or isinstance(value, bool):
        return value
    return str(value)


def _ensure_default(iam: Any) -> str:
    try:
        iam.get_instance_profile(InstanceProfileName=DEFAULT_PROFILE)
        return DEFAULT_PROFILE
    except Exception as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
    try:
        iam.create_role(RoleName=DEFAULT_PROFILE, AssumeRolePolicyDocument=json.dumps(_TRUST))
    except Exception as exc:
        if error_code(exc) != "EntityAlreadyExists":
            raise
    iam.put_role_policy(
        RoleName=DEFAULT_PROFILE,
        PolicyName="stix-node-autostop",
        PolicyDocument=json.dumps(_POLICY),
    )
    try:
        iam.create_instance_profile(InstanceProfileName=DEFAULT_PROFILE)
    except Exception as exc:
        if error_code(exc) != "EntityAlreadyExists":
            raise
    try:
        iam.add_role_to_instance_profile(
            InstanceProfileName=DEFAULT_PROFILE, RoleName=DEFAULT_PROFILE
        )
    except Exception as exc:
        if error_code(exc) != "LimitExceeded":  # the role is already in the profile
            raise
    return DEFAULT_PROFILE


def instance_profile(provider_config: dict[str, Any]) -> str | None:
    """The profile name to launch nodes with, or ``None`` (after saying why on stderr)."""
    setting = profile_setting(provider_config)
    if setting is False:
        return None
    if isinstance(setting, str) and setting:
        return setting
    try:
        return _ensure_default(client("iam"))
    except Exception as exc:
        code = error_code(exc) or type(exc).__name__
        print(
            f"aws: nodes get no instance profile ({code}); autostop will not be able to stop "
            "the cluster from its head; set aws.instance_profile to an existing profile",
            file=sys.stderr,
        )
        return None


__all__ = ["DEFAULT_PROFILE", "instance_profile", "profile_setting"]
