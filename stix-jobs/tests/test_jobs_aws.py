"""Managed-job recovery decisions against AWS (boto3 over real HTTP to moto's server).

An instance terminated behind STIX's back must be seen as lost through the provisioner's
query, and the recovery launch must land elsewhere (EAGER_NEXT_REGION) or in the same
region first (FAILOVER), with the first instance gone. moto's instances cannot run the
node agent over SSH, so the job itself does not run here; this covers the decision path.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("stix_aws")
pytest.importorskip("moto")


def _launch(task: Any, name: str) -> Any:
    """Provision the way a managed job's launch does, and record the cluster."""
    from stix.provision.attempt import name_on_cloud
    from stix.provision.failover import provision_with_failover
    from stix.state.clusters import ClusterRecord, ClusterStore

    cno = name_on_cloud(name, "tester")
    done = provision_with_failover(task, cluster_name=name, cluster_name_on_cloud=cno)
    ClusterStore().put(
        ClusterRecord(
            name=name,
            status="UP",
            cloud="aws",
            region=done.info.region,
            zone=done.info.zone,
            num_nodes=1,
            handle={"cluster_name_on_cloud": cno},
        )
    )
    return done


def _states(region: str) -> dict[str, str]:
    import boto3

    ec2 = boto3.client("ec2", region_name=region)
    out = {}
    for res in ec2.describe_instances()["Reservations"]:
        for inst in res["Instances"]:
            out[inst["InstanceId"]] = inst["State"]["Name"]
    return out


def test_terminated_spot_instance_is_recovered_elsewhere(aws: str) -> None:
    import boto3
    from stix.provision.refresh import live_status
    from stix.state.clusters import ClusterStore
    from stix.task import Task
    from stix_jobs.controller import actions

    task = Task.from_yaml_config(
        {
            "resources": {"infra": "aws", "use_spot": True, "job_recovery": "EAGER_NEXT_REGION"},
            "run": "python train.py",
        }
    )
    first = _launch(task, "spot-1")
    region = first.info.region
    [first_id] = [i.instance_id for i in first.info.instances]
    record = ClusterStore().get("spot-1")
    assert record is not None
    assert live_status(record) == "INIT"  # running, but no node agent answers on moto

    # the cloud takes the instance back behind STIX's back
    boto3.client("ec2", region_name=region).terminate_instances(InstanceIds=[first_id])
    assert actions.cluster_gone("spot-1")
    assert actions.interpret(None, "spot-1").kind == "preempted"

    same = actions.placements(task, "FAILOVER", f"aws/{region}")
    assert same[0].resources[0].region == region and same[-1] is task
    tries = actions.placements(task, "EAGER_NEXT_REGION", f"aws/{region}")
    assert tries[-1] is task  # the whole search space stays the last resort
    pinned = tries[0].resources[0]
    assert pinned.region and pinned.region != region
    actions.teardown("spot-1")
    assert ClusterStore().get("spot-1") is None

    second = _launch(tries[0], "spot-1")
    [second_id] = [i.instance_id for i in second.info.instances]
    assert second_id != first_id
    assert _states(second.info.region)[second_id] in ("pending", "running")
    assert _states(region)[first_id] in ("shutting-down", "terminated")
    actions.teardown("spot-1")
    assert _states(second.info.region)[second_id] in ("shutting-down", "terminated")
