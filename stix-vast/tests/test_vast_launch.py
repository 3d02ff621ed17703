"""The whole path on the fake Vast.ai API: search offers -> rent one -> SSH -> job -> stop/start -> down.

The instance's container is a harness node (see :mod:`vast_fakes`); the real
``stix`` CLI runs in a subprocess and the plugin's HTTP client talks to the fake.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from stix.testing.e2e import cluster_status, run_stix, write_task
from vast_fakes import FakeVastApi, write_catalog_without_bids

pytestmark = pytest.mark.e2e


def test_job_runs_on_the_cheapest_offer_then_stop_start_and_down(
    fake_vast: FakeVastApi, cloud: Any, tmp_path: Path
) -> None:
    task = write_task(
        tmp_path,
        resources={
            "infra": "vast/SE",
            "accelerators": "RTX4090:1",
            "image_id": "docker:nvidia/cuda:12.4.1-runtime-ubuntu22.04",
            "ports": 8080,
        },
        run='echo "vast job as $(whoami)" | tee ~/out.txt',
    )
    proc = run_stix("launch", "-y", "-c", "va", task)
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
    assert cluster_status("va") == "UP"

    run_stix("stop", "-y", "va")
    assert cluster_status("va") == "STOPPED"
    run_stix("start", "-y", "va")
    assert cluster_status("va") == "UP"
    again = run_stix("exec", "va", "cat ~/out.txt")
    assert "vast job as" in again.stdout + again.stderr

    run_stix("down", "-y", "va")
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
    task = write_task(
        tmp_path, resources={"infra": "vast/US", "accelerators": "A100-80GB:2"}, run="echo got-one"
    )
    proc = run_stix("launch", "-y", "-c", "race", task)
    assert "got-one" in proc.stdout + proc.stderr
    tried = [oid for oid, _ in fake_vast.creates]
    assert tried[0] == cheapest["id"] and len(tried) == 2
    assert f"offer {cheapest['id']} was taken; trying the next offer" in proc.stderr
    (inst,) = fake_vast.instances.values()
    assert inst["offer_id"] == tried[1]
    run_stix("down", "-y", "race")


def test_interruptible_bids_and_capacity_in_one_country_fails_over(
    fake_vast: FakeVastApi, cloud: Any, tmp_path: Path
) -> None:
    cloud.faults.stockout("US")
    task = write_task(
        tmp_path,
        resources={"infra": "vast", "accelerators": "RTX4090:1", "use_spot": True},
        run="echo bid-won",
    )
    proc = run_stix("launch", "-y", "-c", "bid", task)
    assert "bid-won" in proc.stdout + proc.stderr
    (inst,) = fake_vast.instances.values()
    assert inst["is_bid"] and not inst["geolocation"].endswith("US")
    placed = fake_vast.offers[inst["offer_id"]]
    assert fake_vast.creates[-1][1]["price"] == placed["min_bid"]
    assert fake_vast.searches[-1]["type"] == "bid"
    cloud.preempt(str(inst["id"]))  # outbid: Vast stops an interruptible instance
    assert cluster_status("bid") == "STOPPED"
    run_stix("down", "-y", "bid")


def test_no_credit_says_so_and_leaves_nothing(
    fake_vast: FakeVastApi, cloud: Any, tmp_path: Path
) -> None:
    cloud.faults.over_quota("US", "SE", "TW", "DE")
    task = write_task(
        tmp_path, resources={"infra": "vast", "accelerators": "RTX4090:1"}, run="true"
    )
    proc = run_stix("launch", "-y", "-c", "broke", task, check=False)
    assert proc.returncode == 1 and "lacks credit" in proc.stderr
    assert "Traceback" not in proc.stderr and len(fake_vast.creates) == 1


def test_state_recover_finds_the_labelled_instance_after_state_db_is_lost(
    fake_vast: FakeVastApi, cloud: Any, tmp_path: Path, cli: Any
) -> None:
    from harness.recover import lose_state_and_recover

    resources = {"infra": "vast/SE", "accelerators": "RTX4090:1"}
    run_stix("launch", "-y", "-c", "vrec", write_task(tmp_path, resources=resources, run="true"))
    record = lose_state_and_recover(cli, "vrec")
    assert (record.status, record.cloud, record.region) == ("UP", "vast", "SE")
    run_stix("down", "-y", "vrec")
    assert not fake_vast.instances and cloud.assigned() == []


def test_a_spot_plan_priced_0_by_the_catalog_bids_the_live_minimum(
    fake_vast: FakeVastApi, cloud: Any, tmp_path: Path, cli: Any
) -> None:
    folder = write_catalog_without_bids(tmp_path)
    assert cli("catalog", "import", str(folder), "--cloud", "vast").exit_code == 0
    task = write_task(
        tmp_path,
        resources={"infra": "vast", "accelerators": "RTX4090:1", "use_spot": True},
        run="echo outbid-nobody",
    )
    proc = run_stix("launch", "-y", "-c", "zerobid", task)
    assert "outbid-nobody" in proc.stdout + proc.stderr
    ((offer_id, body),) = fake_vast.creates
    offer = fake_vast.offers[offer_id]
    assert offer["geolocation"].endswith("SE") and offer["min_bid"] == 0.19
    assert body["price"] == offer["min_bid"]  # the fake refuses bids under the minimum
    run_stix("down", "-y", "zerobid")


def test_a_private_image_passes_the_registry_login_to_vast(
    fake_vast: FakeVastApi, cloud: Any, tmp_path: Path
) -> None:
    password = "pw-for-the-registry-7"
    task = write_task(
        tmp_path,
        envs={"SKYPILOT_DOCKER_USERNAME": "team", "SKYPILOT_DOCKER_SERVER": "registry.example.com"},
        secrets={"SKYPILOT_DOCKER_PASSWORD": password},
        resources={"infra": "vast/SE", "accelerators": "RTX4090:1",
                   "image_id": "docker:registry.example.com/team/private:1"},
        run="echo pulled",
    )  # fmt: skip
    proc = run_stix("launch", "-y", "-c", "vpriv", task)
    assert "pulled" in proc.stdout and password not in proc.stdout + proc.stderr
    ((_, body),) = fake_vast.creates
    assert body["image_login"] == f"-u team -p {password} registry.example.com"
    run_stix("down", "-y", "vpriv")
    assert not fake_vast.instances


def test_autodown_destroys_the_instance_from_inside_it(
    fake_vast: FakeVastApi, cloud: Any, tmp_path: Path
) -> None:
    """The head's agent destroys its own idle instance and the cluster's account key with
    the API key it was given (never shown in output)."""
    from vast_fakes import API_KEY

    task = write_task(
        tmp_path, resources={"infra": "vast", "accelerators": "RTX4090:1"}, run="true"
    )
    proc = run_stix("launch", "-y", "-c", "vad", "-i", "0.05", "--down", task)
    assert API_KEY not in proc.stdout + proc.stderr
    (inst_id,) = fake_vast.instances
    assert fake_vast.keys
    node_ip = cloud.node(str(inst_id)).ip
    deadline = time.monotonic() + 90
    while fake_vast.instances and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not fake_vast.instances and not fake_vast.keys
    assert fake_vast.changed_from == [("destroy", node_ip)]  # from the instance itself
    run_stix("status", "--refresh")
    assert "vad" not in run_stix("status").stdout
    assert cloud.assigned() == []
