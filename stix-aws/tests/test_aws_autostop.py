"""Autostop from the head: the stdlib-only script stops or terminates its own cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from aws_fakes import FakeImdsServer
from stix_aws import node_autostop
from stix_aws.provisioner import AwsProvisioner
from test_aws_provisioner import instances, make_config


def test_signature_matches_botocore() -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = "Action=DescribeInstances&InstanceId.1=i-0123&Version=2016-11-15"
    url = "https://ec2.eu-west-1.amazonaws.com/"
    mine = node_autostop.sign(
        url, body, "eu-west-1", "AKIDEXAMPLE", "s3cret", "tok", "20240102T030405Z"
    )
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={k: v for k, v in mine.items() if k != "authorization"},
    )
    request.context["timestamp"] = "20240102T030405Z"
    auth = SigV4Auth(Credentials("AKIDEXAMPLE", "s3cret", "tok"), "ec2", "eu-west-1")
    canonical = auth.canonical_request(request)
    expected = auth.signature(auth.string_to_sign(request, canonical), request)
    assert mine["authorization"].endswith(f"Signature={expected}")


@pytest.mark.parametrize(("action", "final"), [("stop", "stopped"), ("down", "terminated")])
def test_head_stops_or_terminates_its_own_cluster(
    aws: str, ec2: Any, ssh_public_key: str, action: str, final: str
) -> None:
    prov = AwsProvisioner()
    config = make_config("auto", ssh_public_key, count=2)
    record = prov.run_instances(config)
    other = make_config("bystander", ssh_public_key)
    prov.run_instances(other)
    imds = FakeImdsServer(record.head_instance_id, "us-east-1")
    try:
        argv = prov.autostop_commands("auto")[action]
        assert argv[0] == "python3" and argv[-1] == action
        env = {**os.environ, "STIX_AWS_IMDS": imds.url, "AWS_ENDPOINT_URL": aws}
        done = subprocess.run(
            [sys.executable, *argv[1:]], capture_output=True, text=True, env=env, timeout=60
        )
    finally:
        imds.close()
    assert done.returncode == 0, done.stderr
    nodes = instances(ec2, config.cluster_name_on_cloud, (final,))
    assert len(nodes) == 2
    assert (
        len(instances(ec2, other.cluster_name_on_cloud, ("running",))) == 1
    )  # other clusters untouched
    prov.terminate_instances(config.cluster_name_on_cloud, None)
    prov.terminate_instances(other.cluster_name_on_cloud, None)
