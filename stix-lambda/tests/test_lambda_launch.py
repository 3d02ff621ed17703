"""The whole path on the fake Lambda API: launch -> SSH into harness nodes -> job -> down.

Each test drives the real ``stix`` CLI in a subprocess; the plugin's HTTP client
talks to :class:`lambda_fakes.FakeLambdaApi`, whose instances are real sshd nodes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from lambda_fakes import FakeLambdaApi
from stix.testing.e2e import cluster_status, run_stix, write_task

pytestmark = pytest.mark.e2e


def test_job_runs_on_two_nodes_and_down_leaves_nothing(
    fake_lambda: FakeLambdaApi, cloud: Any, tmp_path: Path
) -> None:
    task = write_task(
        tmp_path,
        name="hello",
        num_nodes=2,
        resources={"infra": "lambda/us-west-1", "accelerators": "A10:1", "ports": 8080},
        run='echo "rank $SKYPILOT_NODE_RANK of $SKYPILOT_NUM_NODES on $(whoami)"',
    )
    proc = run_stix("launch", "-y", "-c", "lam", task)
    out = proc.stdout + proc.stderr
    assert f"rank 0 of 2 on {cloud.user}" in out and f"rank 1 of 2 on {cloud.user}" in out, out
    assert len(cloud.assigned()) == 2
    names = sorted(i["name"] for i in fake_lambda.instances.values())
    assert names[0].startswith("lam-") and names[0].endswith("-head")
    assert names[1].endswith("-worker")
    launch = fake_lambda.launches[0]
    assert (launch["region_name"], launch["instance_type_name"]) == ("us-west-1", "gpu_1x_a10")
    assert launch["ssh_key_names"] == [next(iter(fake_lambda.keys.values()))["name"]]
    assert {"protocol": "tcp", "port_range": [8080, 8080]}.items() <= fake_lambda.firewall[
        -1
    ].items()

    assert cluster_status("lam") == "UP"
    stop = run_stix("stop", "-y", "lam", check=False)
    assert stop.returncode == 1
    assert "lambda cannot stop nodes" in stop.stderr
    assert "Traceback" not in stop.stderr

    run_stix("down", "-y", "lam")
    assert not fake_lambda.instances and not fake_lambda.keys
    assert cloud.assigned() == []


def test_insufficient_capacity_fails_over_to_another_region(
    fake_lambda: FakeLambdaApi, cloud: Any, tmp_path: Path
) -> None:
    cloud.faults.stockout("us-east-1", "us-west-1", "us-south-1", "asia-northeast-1")
    task = write_task(
        tmp_path,
        resources={"infra": "lambda", "accelerators": "A100:8"},
        run="echo on-$SKYPILOT_NODE_RANK",
    )
    proc = run_stix("launch", "-y", "-c", "fo", task)
    assert "on-0" in proc.stdout + proc.stderr
    tried = [(b["region_name"], b["instance_type_name"]) for b in fake_lambda.launches]
    regions = [r for r, _ in tried]
    sold_out = {"us-east-1", "us-west-1", "us-south-1", "asia-northeast-1"}
    assert regions[-1] == "europe-central-1" and set(regions[:-1]) <= sold_out, tried
    assert len(regions) == len(set(regions)) >= 2, tried
    (inst,) = fake_lambda.instances.values()
    assert inst["region"]["name"] == "europe-central-1"
    assert inst["instance_type"]["name"] == "gpu_8x_a100"
    run_stix("down", "-y", "fo")


def test_quota_moves_off_lambda_and_says_why(
    fake_lambda: FakeLambdaApi, cloud: Any, tmp_path: Path
) -> None:
    cloud.faults.over_quota(
        "us-east-1", "us-west-1", "us-south-1", "europe-central-1", "asia-northeast-1"
    )
    task = write_task(tmp_path, resources={"infra": "lambda", "accelerators": "A10:1"}, run="true")
    proc = run_stix("launch", "-y", "-c", "quota", task, check=False)
    assert proc.returncode == 1
    assert "Quota exceeded for your account" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(fake_lambda.launches) == 1  # an account-wide limit: no other region is tried
    assert not fake_lambda.instances and not fake_lambda.keys


def test_state_recover_finds_the_named_instances_after_state_db_is_lost(
    fake_lambda: FakeLambdaApi, cloud: Any, tmp_path: Path, cli: Any
) -> None:
    from harness.recover import lose_state_and_recover

    task = write_task(tmp_path, name="rec", resources={"infra": "lambda/us-west-1"}, run="true")
    run_stix("launch", "-y", "-c", "lrec", task)
    record = lose_state_and_recover(cli, "lrec")
    assert (record.status, record.cloud, record.region) == ("UP", "lambda", "us-west-1")
    run_stix("down", "-y", "lrec")
    assert not fake_lambda.instances and not fake_lambda.keys and cloud.assigned() == []


def test_autodown_terminates_the_cluster_from_its_head(
    fake_lambda: FakeLambdaApi, cloud: Any, tmp_path: Path
) -> None:
    """The head's agent tears the idle cluster down with the API key it was given; the key
    never shows in the client's output; plain autostop is refused (no stop on Lambda)."""
    from lambda_fakes import API_KEY

    task = write_task(tmp_path, resources={"infra": "lambda/us-west-1"}, num_nodes=2, run="echo up")
    refused = run_stix("launch", "-y", "-c", "ad", "-i", "5", task, check=False)
    assert refused.returncode == 1 and "add --down" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    proc = run_stix("launch", "-y", "-c", "ad", "-i", "0.05", "--down", task)
    assert API_KEY not in proc.stdout + proc.stderr
    assert cluster_status("ad") == "UP"
    deadline = time.monotonic() + 90
    while fake_lambda.instances and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not fake_lambda.instances and not fake_lambda.keys
    head_ip = f"10.213.{cloud.slot}."  # a harness node, not this machine's client
    assert fake_lambda.terminated_from and all(
        peer.startswith(head_ip) and not peer.endswith(".1") for peer in fake_lambda.terminated_from
    ), fake_lambda.terminated_from
    status = run_stix("status", "--refresh")
    assert "ad " not in status.stdout
    assert cloud.assigned() == []
