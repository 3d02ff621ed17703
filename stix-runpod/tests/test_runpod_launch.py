"""The whole path on the fake RunPod API: deploy a pod -> SSH into it -> job -> stop/start -> down.

The pod's container is a harness node (see :mod:`runpod_fakes`); the real
``stix`` CLI runs in a subprocess and the plugin's HTTP client talks to the fake.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from runpod_fakes import FakeRunpodApi
from stix.testing.e2e import cluster_status, run_stix, write_task

pytestmark = pytest.mark.e2e


def test_job_runs_in_the_pods_image_then_stop_start_and_down(
    fake_runpod: FakeRunpodApi, cloud: Any, tmp_path: Path
) -> None:
    task = write_task(
        tmp_path,
        resources={
            "infra": "runpod/EU-RO-1",
            "accelerators": "RTX4090:1",
            "image_id": "docker:pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime",
            "ports": [8888],
        },
        run='echo "pod says hi from $(whoami)" > ~/out.txt; cat ~/out.txt',
    )
    proc = run_stix("launch", "-y", "-c", "rp", task)
    assert f"pod says hi from {cloud.user}" in proc.stdout + proc.stderr
    ((field, spec),) = fake_runpod.deploys
    assert field == "podFindAndDeployOnDemand"
    assert spec["imageName"] == "pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime"
    assert (spec["gpuTypeId"], spec["gpuCount"], spec["cloudType"]) == (
        "NVIDIA GeForce RTX 4090",
        1,
        "COMMUNITY",
    )
    assert (spec["dataCenterId"], spec["ports"]) == ("EU-RO-1", "22/tcp,8888/tcp")
    (pod_id,) = fake_runpod.pods
    key = next(e["value"] for e in spec["env"] if e["key"] == "PUBLIC_KEY")
    assert key in (cloud.node(pod_id).home / ".ssh" / "authorized_keys").read_text()
    assert cluster_status("rp") == "UP"

    run_stix("stop", "-y", "rp")
    assert (
        fake_runpod.pods[pod_id]["desiredStatus"] == "EXITED" and cluster_status("rp") == "STOPPED"
    )
    run_stix("start", "-y", "rp")
    assert cluster_status("rp") == "UP"
    again = run_stix("exec", "rp", "cat ~/out.txt")
    assert "pod says hi" in again.stdout + again.stderr  # the disk survived the stop

    run_stix("down", "-y", "rp")
    assert not fake_runpod.pods and cloud.assigned() == []


def test_vanished_gpu_stock_moves_to_the_next_offer(
    fake_runpod: FakeRunpodApi, cloud: Any, tmp_path: Path
) -> None:
    fake_runpod.out_of_stock = {"NVIDIA GeForce RTX 4090"}  # the seed still lists it
    task = write_task(
        tmp_path,
        resources={"infra": "runpod", "accelerators": ["RTX4090:1", "A6000:1"]},
        run="echo landed",
    )
    proc = run_stix("launch", "-y", "-c", "moved", task)
    assert "landed" in proc.stdout + proc.stderr
    tried = [s["gpuTypeId"] for _, s in fake_runpod.deploys]
    assert tried[0] == "NVIDIA GeForce RTX 4090" and tried[-1] == "NVIDIA RTX A6000", tried
    run_stix("down", "-y", "moved")


def test_interruptible_bids_the_live_spot_price_and_low_balance_says_so(
    fake_runpod: FakeRunpodApi, cloud: Any, tmp_path: Path
) -> None:
    task = write_task(
        tmp_path,
        resources={"infra": "runpod/US-TX-3", "accelerators": "RTX4090:2", "use_spot": True},
        run="echo spot",
    )
    run_stix("launch", "-y", "-c", "sp", task)
    ((field, spec),) = fake_runpod.deploys
    assert (field, spec["bidPerGpu"], spec["gpuCount"]) == ("podRentInterruptable", 0.20, 2)
    (pod_id,) = fake_runpod.pods
    cloud.preempt(pod_id)  # outbid: RunPod stops an interruptible pod
    assert cluster_status("sp") == "STOPPED"
    run_stix("down", "-y", "sp")

    cloud.faults.over_quota("US-TX-3", "EU-RO-1", "CA-MTL-1")
    proc = run_stix("launch", "-y", "-c", "broke", task, check=False)
    assert proc.returncode == 1 and "Your balance is too low" in proc.stderr
    assert "Traceback" not in proc.stderr and not fake_runpod.pods


def test_state_recover_finds_the_named_pod_after_state_db_is_lost(
    fake_runpod: FakeRunpodApi, cloud: Any, tmp_path: Path, cli: Any
) -> None:
    from harness.recover import lose_state_and_recover

    resources = {"infra": "runpod/EU-RO-1", "accelerators": "RTX4090:1"}
    run_stix("launch", "-y", "-c", "rrec", write_task(tmp_path, resources=resources, run="true"))
    record = lose_state_and_recover(cli, "rrec")
    assert (record.status, record.cloud, record.region) == ("UP", "runpod", "EU-RO-1")
    run_stix("down", "-y", "rrec")
    assert not fake_runpod.pods and cloud.assigned() == []


def test_a_private_image_pulls_with_a_saved_registry_login_removed_by_down(
    fake_runpod: FakeRunpodApi, cloud: Any, tmp_path: Path
) -> None:
    password = "pw-for-the-registry-9"
    task = write_task(
        tmp_path,
        envs={"SKYPILOT_DOCKER_USERNAME": "team", "SKYPILOT_DOCKER_SERVER": "ghcr.io"},
        secrets={"SKYPILOT_DOCKER_PASSWORD": password},
        resources={"infra": "runpod/EU-RO-1", "accelerators": "RTX4090:1",
                   "image_id": "docker:ghcr.io/team/private:1"},
        run="echo pulled",
    )  # fmt: skip
    proc = run_stix("launch", "-y", "-c", "rpriv", task)
    assert "pulled" in proc.stdout and password not in proc.stdout + proc.stderr
    ((_, spec),) = fake_runpod.deploys
    (auth,) = fake_runpod.registry_auths.values()
    assert spec["containerRegistryAuthId"] == auth["id"]
    assert (auth["username"], auth["password"]) == ("team", password)
    assert auth["name"].startswith("stix-rpriv-")

    run_stix("down", "-y", "rpriv")
    assert not fake_runpod.pods and not fake_runpod.registry_auths


def test_autostop_stops_the_pod_from_inside_it(
    fake_runpod: FakeRunpodApi, cloud: Any, tmp_path: Path
) -> None:
    """The head's agent stops its own idle pod with the API key it was given (never shown
    in output); the cluster then reads STOPPED and starts again."""
    from runpod_fakes import API_KEY

    task = write_task(
        tmp_path, resources={"infra": "runpod", "accelerators": "RTX4090:1"}, run="true"
    )
    proc = run_stix("launch", "-y", "-c", "ras", "-i", "0.05", task)
    assert API_KEY not in proc.stdout + proc.stderr
    (pod_id,) = fake_runpod.pods
    deadline = time.monotonic() + 90
    while fake_runpod.pods[pod_id]["desiredStatus"] != "EXITED" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert fake_runpod.pods[pod_id]["desiredStatus"] == "EXITED"
    ((op, peer),) = fake_runpod.changed_from
    assert op == "podStop" and peer == cloud.node(pod_id).ip  # from the pod itself
    run_stix("status", "--refresh")
    assert cluster_status("ras") == "STOPPED"
    run_stix("start", "-y", "ras")
    assert cluster_status("ras") == "UP"
    run_stix("down", "-y", "ras")
    assert not fake_runpod.pods and cloud.assigned() == []
