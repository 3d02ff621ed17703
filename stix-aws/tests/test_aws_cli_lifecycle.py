"""``stix stop``, ``stix status --refresh`` and ``stix down`` of an AWS cluster through the core CLI."""

from __future__ import annotations

from typing import Any

from stix_aws.provisioner import AwsProvisioner
from test_aws_provisioner import instances, make_config


def test_stop_refresh_and_down_through_the_cli(
    aws: str, ec2: Any, ssh_public_key: str, cli: Any
) -> None:
    from stix.state.clusters import ClusterRecord, ClusterStore

    config = make_config("clic", ssh_public_key, count=2)
    AwsProvisioner().run_instances(config)
    ClusterStore().put(
        ClusterRecord(
            name="clic",
            status="INIT",
            cloud="aws",
            region="us-east-1",
            instance_type="m6i.large",
            num_nodes=2,
            handle={"cluster_name_on_cloud": config.cluster_name_on_cloud},
        )
    )
    stopped = cli("stop", "clic", "--yes")
    assert stopped.exit_code == 0, stopped.stderr
    AwsProvisioner().wait_instances(config.cluster_name_on_cloud, "us-east-1", "STOPPED")
    assert len(instances(ec2, config.cluster_name_on_cloud, ("stopped",))) == 2

    status = cli("status", "--refresh", "--json")
    assert status.exit_code == 0, status.stderr
    assert '"STOPPED"' in status.stdout

    down = cli("down", "clic", "--yes")
    assert down.exit_code == 0, down.stderr
    assert instances(ec2, config.cluster_name_on_cloud) == []
    assert "clic" not in cli("status", "--json").stdout
