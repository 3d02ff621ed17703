"""A single-host TPU VM through the (fake) Cloud TPU API v2: failover on a TPU stockout,
a job on the TPU VM over SSH, and down; multi-host slices are refused in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from gcp_fakes import FakeComputeApi
from gcp_fakes_more import FakeTpu


def test_tpu_vm_launch_runs_a_job_and_down_removes_it(
    gce: FakeComputeApi, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import stix.sdk as sdk

    tpu = FakeTpu(gce)
    gce.cloud.faults.stockout("us-central1-a", times=1)
    doc = {
        "resources": {"infra": "gcp", "accelerators": "tpu-v5litepod-8"},
        "run": "echo tpu > ~/ran",
    }
    path = tmp_path / "tpu.yaml"
    path.write_text(yaml.safe_dump(doc))
    try:
        assert sdk.launch(str(path), "tpu").status == "SUCCEEDED"
        [(zone, _node_id)] = list(tpu.nodes)
        assert zone != "us-central1-a"  # the stockout there moved it on
        assert ("capacity", ("us-central1", "us-central1-a")) in gce.cloud.faults.hits
        node = next(iter(tpu.nodes.values()))
        assert node["acceleratorType"] == "v5litepod-8"
        assert node["runtimeVersion"] == "v2-alpha-tpuv5-lite"
        assert node["labels"]["stix-cluster-name"] == "tpu"
        assert (gce.cloud.node(node["_node"]).home / "ran").read_text() == "tpu\n"
        assert "no capacity" in capfd.readouterr().err
    finally:
        sdk.down("tpu")
    assert tpu.nodes == {} and gce.cloud.assigned() == []


def test_multi_host_slices_are_refused() -> None:
    from stix.errors import ProvisionError
    from stix.task import Resources
    from stix_gcp.tpu import accelerator_type

    assert accelerator_type(Resources(accelerators={"tpu-v4-8": 1})) == (
        "v4-8",
        "tpu-ubuntu2204-base",
    )
    with pytest.raises(ProvisionError, match="multi-host TPU slice") as caught:
        accelerator_type(Resources(accelerators={"tpu-v5litepod-16": 1}))
    assert caught.value.scope == "abort"


def test_state_recover_finds_the_tpu_vm_after_state_db_is_lost(
    gce: FakeComputeApi, tmp_path: Path, cli: Any
) -> None:
    import stix.sdk as sdk
    from harness.recover import lose_state_and_recover

    tpu = FakeTpu(gce)
    path = tmp_path / "tpu.yaml"
    path.write_text(yaml.safe_dump({"resources": {"accelerators": "tpu-v5litepod-8"}}))
    try:
        sdk.launch(str(path), "tpr")  # no run: the TPU VM only
        record = lose_state_and_recover(cli, "tpr")
        assert (record.status, record.cloud, record.region) == ("UP", "gcp", "us-central1")
    finally:
        sdk.down("tpr")
    assert tpu.nodes == {} and gce.cloud.assigned() == []
