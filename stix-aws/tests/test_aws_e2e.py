"""``stix launch`` on ``infra: aws`` end to end: boto3 talks to moto through a proxy whose
instances are real sshd nodes (``FakeEc2NodesProxy``), and the job runs on them over SSH."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_nodes_fake import FakeEc2NodesProxy

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from harness.fixtures import cloud, cloud_nodes

__all__ = ["cloud", "cloud_nodes"]


@pytest.fixture
def ec2_nodes(
    aws: str, cloud: Any, stix_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeEc2NodesProxy]:
    """moto behind the node-backed proxy; the plugin logs in as the harness's user."""
    from stix_aws.session import reset

    fake = FakeEc2NodesProxy(aws, cloud)
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", fake.url)
    config = {"aws": {"ssh_user": cloud.user, "wait_seconds": 60}, "allowed_clouds": ["aws"]}
    (stix_home / "config.yaml").write_text(yaml.safe_dump(config))
    reset()
    try:
        yield fake
    finally:
        fake.close()
        reset()


def _task(tmp_path: Path, name: str, run: str, **resources: Any) -> str:
    doc = {
        "name": name,
        "num_nodes": resources.pop("num_nodes", 1),
        "resources": {"infra": "aws/us-east-1", "instance_type": "m6i.large", **resources},
        "run": run,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_two_node_job_on_aws_and_down_leaves_nothing(
    ec2_nodes: FakeEc2NodesProxy, ec2: Any, tmp_path: Path
) -> None:
    import stix.sdk as sdk
    from stix.sdk.jobs import tail_logs

    run = 'echo "rank $SKYPILOT_NODE_RANK of $SKYPILOT_NUM_NODES: $(echo $SKYPILOT_NODE_IPS)" | tee ~/rank.txt'
    result = sdk.launch(_task(tmp_path, "two", run, num_nodes=2), "a2n")
    assert result.status == "SUCCEEDED"
    assert len(ec2_nodes.nodes) == 2
    chunks: list[bytes] = []
    tail_logs("a2n", result.job_id, follow=False, write=chunks.append)
    text = b"".join(chunks).decode()
    assert "rank 0 of 2" in text and "rank 1 of 2" in text
    homes = {ec2_nodes.cloud.node(i).home for i in ec2_nodes.nodes}
    ranks = sorted((h / "rank.txt").read_text().split(":")[0] for h in homes)
    assert ranks == ["rank 0 of 2", "rank 1 of 2"]

    sdk.down("a2n")
    live = ec2.describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running", "stopped"]}]
    )["Reservations"]
    assert live == []
    assert ec2_nodes.cloud.assigned() == []


def test_spot_preemption_zone_stockout_and_slow_start_on_aws(
    ec2_nodes: FakeEc2NodesProxy, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import stix.sdk as sdk

    ec2_nodes.cloud.faults.stockout("us-east-1a", times=1)
    ec2_nodes.cloud.faults.slow_start(3)  # pending until the node answers SSH
    result = sdk.launch(_task(tmp_path, "sp", "true", use_spot=True), "asp")
    assert result.status == "SUCCEEDED"
    assert ("capacity", ("us-east-1", "us-east-1a")) in ec2_nodes.cloud.faults.hits
    assert "InsufficientInstanceCapacity" in capfd.readouterr().err
    [iid] = ec2_nodes.nodes
    ec2_nodes.preempt(iid)
    assert sdk.status(["asp"], refresh=True) == []
    assert ec2_nodes.cloud.assigned() == []


def test_state_recover_finds_the_tagged_aws_cluster_after_state_db_is_lost(
    ec2_nodes: FakeEc2NodesProxy, ec2: Any, tmp_path: Path, cli: Any
) -> None:
    import stix.sdk as sdk
    from harness.recover import lose_state_and_recover

    assert sdk.launch(_task(tmp_path, "rec", "true"), "arec").status == "SUCCEEDED"
    record = lose_state_and_recover(cli, "arec")
    assert (record.status, record.cloud, record.region) == ("UP", "aws", "us-east-1")
    assert cli("down", "arec", "--yes").exit_code == 0
    live = ec2.describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running", "stopped"]}]
    )["Reservations"]
    assert live == [] and ec2_nodes.cloud.assigned() == []
