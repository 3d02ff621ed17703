"""``image_id: docker:<image>`` on EC2 (moto, nodes from the harness with a real container
engine): stop and start keep the container and what setup put in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_nodes_fake import FakeEc2NodesProxy
from harness.fixtures import IMAGE, container_images, docker_cloud
from test_aws_e2e import cloud, cloud_nodes, ec2_nodes

__all__ = ["cloud", "cloud_nodes", "container_images", "docker_cloud", "ec2_nodes"]


@pytest.fixture
def docker_ec2(docker_cloud: Any, ec2_nodes: FakeEc2NodesProxy) -> FakeEc2NodesProxy:
    return ec2_nodes


def test_stop_and_start_keep_the_container_and_what_setup_installed(
    docker_ec2: FakeEc2NodesProxy, tmp_path: Path
) -> None:
    import stix.sdk as sdk
    from stix.sdk.jobs import tail_logs

    doc = {
        "resources": {"infra": "aws/us-east-1", "instance_type": "m6i.large",
                      "image_id": f"docker:{IMAGE}"},
        "setup": "echo 'from setup' > /opt/kept",
        "run": "echo \"$(cat /etc/stix-image) $(cat /opt/kept)\"",
    }  # fmt: skip
    task = tmp_path / "task.yaml"
    task.write_text(yaml.safe_dump(doc))
    first = sdk.launch(str(task), "adock")
    assert first.status == "SUCCEEDED"
    sdk.stop("adock")
    [iid] = docker_ec2.nodes
    node = docker_ec2.cloud.node(iid).node
    assert docker_ec2.cloud.node_containers(node) == ["sky_container"]  # stopped, kept

    sdk.start("adock")
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump({"run": "cat /opt/kept /etc/stix-image"}))
    result = sdk.exec(str(again), "adock")
    chunks: list[bytes] = []
    tail_logs("adock", result.job_id, follow=True, write=chunks.append)
    assert b"from setup" in b"".join(chunks) and b"stix-test-image" in b"".join(chunks)

    sdk.down("adock")
    assert docker_ec2.cloud.assigned() == []
    assert docker_ec2.cloud.node_containers(node) == []
