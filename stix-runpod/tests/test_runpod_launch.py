"""The whole path on the fake RunPod API: deploy a pod -> SSH into it -> job -> stop/start -> down.

The pod's container is a harness node (see :mod:`runpod_fakes`); the real
``stix`` CLI runs in a subprocess and the plugin's HTTP client talks to the fake.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from runpod_fakes import FakeRunpodApi

pytestmark = pytest.mark.e2e


def stix(*args: str, check: bool = True, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "stix", *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert proc.returncode == 0, f"stix {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def task_file(tmp_path: Path, **doc: Any) -> str:
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def status(cluster: str) -> str:
    rows = json.loads(stix("status", "--refresh", "--json", cluster).stdout)
    (row,) = rows if isinstance(rows, list) else rows["clusters"]
    return str(row["status"])


def test_job_runs_in_the_pods_image_then_stop_start_and_down(
    fake_runpod: FakeRunpodApi, cloud: Any, tmp_path: Path
) -> None:
    task = task_file(
        tmp_path,
        resources={
            "infra": "runpod/EU-RO-1",
            "accelerators": "RTX4090:1",
            "image_id": "docker:pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime",
            "ports": [8888],
        },
        run='echo "pod says hi from $(whoami)" > ~/out.txt; cat ~/out.txt',
    )
    proc = stix("launch", "-y", "-c", "rp", task)
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
    assert status("rp") == "UP"

    stix("stop", "-y", "rp")
    assert fake_runpod.pods[pod_id]["desiredStatus"] == "EXITED" and status("rp") == "STOPPED"
    stix("start", "-y", "rp")
    assert status("rp") == "UP"
    again = stix("exec", "rp", "cat ~/out.txt")
    assert "pod says hi" in again.stdout + again.stderr  # the disk survived the stop

    stix("down", "-y", "rp")
    assert not fake_runpod.pods and cloud.assigned() == []


def test_vanished_gpu_stock_moves_to_the_next_offer(
    fake_runpod: FakeRunpodApi, cloud: Any, tmp_path: Path
) -> None:
    fake_runpod.out_of_stock = {"NVIDIA GeForce RTX 4090"}  # the seed still lists it
    task = task_file(
        tmp_path,
        resources={"infra": "runpod", "accelerators": ["RTX4090:1", "A6000:1"]},
        run="echo landed",
    )
    proc = stix("launch", "-y", "-c", "moved", task)
    assert "landed" in proc.stdout + proc.stderr
    tried = [s["gpuTypeId"] for _, s in fake_runpod.deploys]
    assert tried[0] == "NVIDIA GeForce RTX 4090" and tried[-1] == "NVIDIA RTX A6000", tried
    stix("down", "-y", "moved")


def test_interruptible_bids_the_live_spot_price_and_low_balance_says_so(
    fake_runpod: FakeRunpodApi, cloud: Any, tmp_path: Path
) -> None:
    task = task_file(
        tmp_path,
        resources={"infra": "runpod/US-TX-3", "accelerators": "RTX4090:2", "use_spot": True},
        run="echo spot",
    )
    stix("launch", "-y", "-c", "sp", task)
    ((field, spec),) = fake_runpod.deploys
    assert (field, spec["bidPerGpu"], spec["gpuCount"]) == ("podRentInterruptable", 0.20, 2)
    stix("down", "-y", "sp")

    cloud.faults.over_quota("US-TX-3", "EU-RO-1", "CA-MTL-1")
    proc = stix("launch", "-y", "-c", "broke", task, check=False)
    assert proc.returncode == 1 and "Your balance is too low" in proc.stderr
    assert "Traceback" not in proc.stderr and not fake_runpod.pods
