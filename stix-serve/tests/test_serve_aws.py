"""A service whose replicas run on ``infra: aws``: moto's instances are real sshd nodes.

The controller is a local cluster as usual; it launches the replica's cluster through
``stix launch`` with this process's AWS endpoint and credentials, boto3 talks to moto
through ``FakeEc2NodesProxy`` (stix-aws's test fake), and the replica's HTTP server runs
on a harness node that the load balancer reaches over the harness bridge. ``stix serve
down`` must then leave no instance, no security group and no node behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("stix_aws")
pytest.importorskip("moto")
_REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(_REPO / "tests"))
sys.path.insert(0, str(_REPO / "stix-aws" / "tests"))

from aws_fakes import aws_client, leftovers, moto_server  # noqa: E402
from aws_nodes_fake import FakeEc2NodesProxy  # noqa: E402
from harness.fixtures import cloud, cloud_nodes  # noqa: E402
from serve_helpers import FAST_CONFIG, down_everything, get, live, poll  # noqa: E402
from stix_serve import sdk  # noqa: E402

__all__ = ["cloud", "cloud_nodes"]

# The replica: python's own HTTP server on the node, serving a page that names it.
RUN = (
    "mkdir -p ~/www && "
    'echo "hello from replica $SKYPILOT_SERVE_REPLICA_ID" > ~/www/index.html && '
    "exec python3 -m http.server 8080 --bind 0.0.0.0 --directory ~/www"
)


@pytest.fixture
def moto_url() -> Iterator[str]:
    """moto's server on loopback (boto3, in this process and the controller's, talks to it)."""
    with moto_server() as url:
        yield url


@pytest.fixture
def ec2_nodes(
    moto_url: str, cloud: Any, stix_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeEc2NodesProxy]:
    """moto behind the node-backed proxy, fake credentials, and a serve config for AWS."""
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    fake = FakeEc2NodesProxy(moto_url, cloud)
    env = {
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ENDPOINT_URL_EC2": fake.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config = {**FAST_CONFIG, "aws": {"ssh_user": cloud.user, "wait_seconds": 60}}
    (stix_home / "config.yaml").write_text(yaml.safe_dump(config))
    try:
        yield fake
    finally:
        try:
            down_everything()
        finally:
            fake.close()


def _service(folder: Path) -> Path:
    task = {
        "name": "awssvc",
        "service": {
            "readiness_probe": {
                "path": "/",
                "initial_delay_seconds": 60,
                "endpoint_probe_interval_seconds": 1,
            },
            "replicas": 1,
        },
        "resources": {"infra": "aws/us-east-1", "instance_type": "m6i.large", "ports": 8080},
        "run": RUN,
    }
    path = folder / "awssvc.yaml"
    path.write_text(yaml.safe_dump(task))
    return path


def _stix(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stix", *args], capture_output=True, text=True, timeout=240
    )


def _ready() -> Any:
    [service] = sdk.status(["awssvc"])
    if service["status"] == "FAILED":
        raise AssertionError("the service FAILED")
    replicas = live(service)
    return service if replicas and all(r["status"] == "READY" for r in replicas) else False


def test_aws_replica_opens_its_port_answers_through_the_balancer_and_down_leaves_nothing(
    ec2_nodes: FakeEc2NodesProxy, moto_url: str, tmp_path: Path
) -> None:
    up = _stix("serve", "up", "-y", "-n", "awssvc", str(_service(tmp_path)))
    assert up.returncode == 0, up.stderr
    try:
        service = poll(_ready, 150, "the AWS replica to become READY", every=2)
    except AssertionError:
        logs = sdk.logs("awssvc", kind="controller")[-3000:]
        raise AssertionError(f"{sdk.status(['awssvc'])}\n{logs}") from None
    [replica] = service["replicas"]
    assert replica["infra"].startswith("aws/us-east-1")

    # the replica's cluster is one EC2 instance, backed by a harness node
    [iid] = ec2_nodes.nodes
    address = ec2_nodes.cloud.node(iid).ip
    ec2 = aws_client(moto_url, "ec2")
    [reservation] = ec2.describe_instances(InstanceIds=[iid])["Reservations"]
    [group] = reservation["Instances"][0]["SecurityGroups"]
    [found] = ec2.describe_security_groups(GroupIds=[group["GroupId"]])["SecurityGroups"]
    ports = {
        (p["IpProtocol"], p.get("FromPort"), p.get("ToPort"))
        for p in found["IpPermissions"]
        if any(r.get("CidrIp") == "0.0.0.0/0" for r in p.get("IpRanges", []))
    }
    assert ("tcp", 8080, 8080) in ports, found["IpPermissions"]

    # the endpoint answers through the load balancer from the node's HTTP server
    assert get(f"http://{address}:8080/") == (200, "hello from replica 1\n")
    endpoint = service["endpoint"]
    for _ in range(3):
        assert get(endpoint + "/") == (200, "hello from replica 1\n")
    assert "GET / 200" in sdk.logs("awssvc", kind="load_balancer")

    down = _stix("serve", "down", "-y", "awssvc")
    assert down.returncode == 0, down.stderr
    assert sdk.status() == []
    assert get(endpoint + "/")[0] == 0  # the endpoint is closed
    assert leftovers(moto_url) == {}  # no instance, security group or key pair
    assert ec2_nodes.cloud.assigned() == []
