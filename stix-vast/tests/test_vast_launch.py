"""The whole path on the fake Vast.ai API: search offers -> rent one -> SSH -> job -> stop/start -> down.

The instance's container is a harness node (see :mod:`vast_fakes`); the real
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
from vast_fakes import FakeVastApi

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


def test_job_runs_on_the_cheapest_offer_then_stop_start_and_down(
    fake_vast: FakeVastApi, cloud: Any, tmp_path: Path
) -> None:
    task = task_file(
        tmp_path,
        resources={
            "infra": "vast/SE",
            "accelerators": "RTX4090:1",
            "image_id": "docker:nvidia/cuda:12.4.1-runtime-ubuntu22.04",
            "ports": 8080,
        },
        run='echo "vast job as $(whoami)" | tee ~/out.txt',
    )
    proc = stix("launch", "-y", "-c", "va", task)
    assert f"vast job as {cloud.user}" in proc.stdout + proc.stderr
    ((offer_id, body),) = fake_vast.creates
    offer = fake_vast.offers[offer_id]
    assert (offer["gpu_name"], offer["num_gpus"], offer["geolocation"]) == (
        "RTX 4090",
        1,
        "Somewhere, SE",
    )
    assert offer["dph_total"] == 0.37  # the cheaper of the two Swedish offers
    assert body["image"] == "nvidia/cuda:12.4.1-runtime-ubuntu22.04"
    assert body["env"] == {"-p 8080:8080": "1"} and "price" not in body
    assert status("va") == "UP"

    stix("stop", "-y", "va")
    assert status("va") == "STOPPED"
    stix("start", "-y", "va")
    assert status("va") == "UP"
    again = stix("exec", "va", "cat ~/out.txt")
    assert "vast job as" in again.stdout + again.stderr

    stix("down", "-y", "va")
    assert not fake_vast.instances and not fake_vast.keys and cloud.assigned() == []
    assert fake_vast.offers[offer_id]["rentable"]


def test_an_offer_taken_since_the_search_moves_to_the_next_offer(
    fake_vast: FakeVastApi, cloud: Any, tmp_path: Path
) -> None:
    cheapest = min(
        (
            o
            for o in fake_vast.offers.values()
            if o["gpu_name"] == "A100 SXM4" and o["num_gpus"] == 2
        ),
        key=lambda o: o["dph_total"],
    )
    fake_vast.race_taken = {cheapest["id"]}
    task = task_file(
        tmp_path, resources={"infra": "vast/US", "accelerators": "A100-80GB:2"}, run="echo got-one"
    )
    proc = stix("launch", "-y", "-c", "race", task)
    assert "got-one" in proc.stdout + proc.stderr
    tried = [oid for oid, _ in fake_vast.creates]
    assert tried[0] == cheapest["id"] and len(tried) == 2
    assert f"offer {cheapest['id']} was taken; trying the next offer" in proc.stderr
    (inst,) = fake_vast.instances.values()
    assert inst["offer_id"] == tried[1]
    stix("down", "-y", "race")


def test_interruptible_bids_and_capacity_in_one_country_fails_over(
    fake_vast: FakeVastApi, cloud: Any, tmp_path: Path
) -> None:
    cloud.faults.stockout("US")
    task = task_file(
        tmp_path,
        resources={"infra": "vast", "accelerators": "RTX4090:1", "use_spot": True},
        run="echo bid-won",
    )
    proc = stix("launch", "-y", "-c", "bid", task)
    assert "bid-won" in proc.stdout + proc.stderr
    (inst,) = fake_vast.instances.values()
    assert inst["is_bid"] and not inst["geolocation"].endswith("US")
    placed = fake_vast.offers[inst["offer_id"]]
    assert fake_vast.creates[-1][1]["price"] == placed["min_bid"]
    assert fake_vast.searches[-1]["type"] == "bid"
    stix("down", "-y", "bid")


def test_no_credit_says_so_and_leaves_nothing(
    fake_vast: FakeVastApi, cloud: Any, tmp_path: Path
) -> None:
    cloud.faults.over_quota("US", "SE", "TW", "DE")
    task = task_file(tmp_path, resources={"infra": "vast", "accelerators": "RTX4090:1"}, run="true")
    proc = stix("launch", "-y", "-c", "broke", task, check=False)
    assert proc.returncode == 1 and "lacks credit" in proc.stderr
    assert "Traceback" not in proc.stderr and len(fake_vast.creates) == 1
