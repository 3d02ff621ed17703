"""``stix launch`` on ``infra: gcp`` end to end: the real google-cloud-compute client talks to
the fake Compute API, whose instances are real sshd nodes; the job runs on them over SSH.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from gcp_fakes import FakeComputeApi


def task_file(tmp_path: Path, name: str, run: str, **resources: Any) -> str:
    doc = {
        "name": name,
        "num_nodes": resources.pop("num_nodes", 1),
        "resources": {"infra": "gcp/us-central1", "instance_type": "e2-standard-2", **resources},
        "run": run,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def homes(gce: FakeComputeApi) -> dict[str, Path]:
    """Instance name -> the home of the harness node backing it."""
    return {n: gce.cloud.node(i["_node"]).home for (_z, n), i in gce.instances.items()}


def test_two_node_job_sees_both_ranks_and_down_leaves_nothing(
    gce: FakeComputeApi, tmp_path: Path
) -> None:
    import stix.sdk as sdk
    from stix.sdk.jobs import tail_logs

    run = 'echo "rank $SKYPILOT_NODE_RANK of $SKYPILOT_NUM_NODES: $(echo $SKYPILOT_NODE_IPS)" | tee ~/rank.txt'
    result = sdk.launch(task_file(tmp_path, "two", run, num_nodes=2), "g2n")
    assert result.status == "SUCCEEDED"
    names = sorted(gce.instances)
    assert [n for _z, n in names] == sorted(["g2n-" + n.split("-", 1)[1] for _z, n in names])
    found = homes(gce)
    head = next(n for n in found if n.endswith("-head"))
    worker = next(n for n in found if n.endswith("-worker-1"))
    ips = [
        gce.instances[k]["networkInterfaces"][0]["networkIP"]
        for k in sorted(gce.instances, key=lambda k: not k[1].endswith("-head"))
    ]
    assert (found[head] / "rank.txt").read_text() == f"rank 0 of 2: {' '.join(ips)}\n"
    assert (found[worker] / "rank.txt").read_text() == f"rank 1 of 2: {' '.join(ips)}\n"
    chunks: list[bytes] = []
    tail_logs("g2n", result.job_id, follow=False, write=chunks.append)
    text = b"".join(chunks).decode()
    assert "rank 0 of 2" in text and "rank 1 of 2" in text

    inst = next(iter(gce.instances.values()))
    assert inst["labels"]["stix-cluster-name"] == "g2n"
    assert {r["labels"]["stix-rank"] for r in gce.instances.values()} == {"0", "1"}
    assert any(name.endswith("-ssh") for name in gce.firewalls)
    sdk.down("g2n")
    assert gce.instances == {} and gce.firewalls == {}
    assert gce.cloud.assigned() == []


def test_an_l4_task_runs_on_a_g2_machine_with_the_gpu_built_in(
    gce: FakeComputeApi, tmp_path: Path
) -> None:
    import stix.sdk as sdk

    doc = {"resources": {"infra": "gcp/us-east4", "accelerators": "L4:1"}, "run": "true"}
    path = tmp_path / "l4.yaml"
    path.write_text(yaml.safe_dump(doc))
    try:
        assert sdk.launch(str(path), "gl4").status == "SUCCEEDED"
        [inst] = gce.instances.values()
        assert inst["machineType"].endswith("/machineTypes/g2-standard-4")
        assert "guestAccelerators" not in inst  # G2 machine types carry their L4
        assert inst["scheduling"]["onHostMaintenance"] == "TERMINATE"
        assert (
            "deeplearning-platform-release" in inst["disks"][0]["initializeParams"]["sourceImage"]
        )
    finally:
        sdk.down("gl4")


def test_the_cli_launches_streams_refreshes_and_downs(
    gce: FakeComputeApi, cli: Any, tmp_path: Path
) -> None:
    path = task_file(tmp_path, "cli", 'echo "hello from $(hostname -I | cut -d" " -f1)"')
    launched = cli("launch", "-y", "-c", "gcli", path)
    assert launched.exit_code == 0, launched.stderr
    [inst] = gce.instances.values()
    assert f"hello from {inst['networkInterfaces'][0]['networkIP']}" in launched.stdout
    status = cli("status", "--refresh", "--json")
    assert status.exit_code == 0 and '"UP"' in status.stdout
    down = cli("down", "gcli", "--yes")
    assert down.exit_code == 0, down.stderr
    assert gce.instances == {} and "gcli" not in cli("status", "--json").stdout


def test_state_recover_finds_the_labelled_gcp_cluster_after_state_db_is_lost(
    gce: FakeComputeApi, tmp_path: Path, cli: Any
) -> None:
    import stix.sdk as sdk
    from harness.recover import lose_state_and_recover

    assert sdk.launch(task_file(tmp_path, "rec", "true"), "grec").status == "SUCCEEDED"
    record = lose_state_and_recover(cli, "grec")
    assert (record.status, record.cloud, record.region) == ("UP", "gcp", "us-central1")
    assert cli("down", "grec", "--yes").exit_code == 0
    assert gce.instances == {} and gce.firewalls == {}
    assert gce.cloud.assigned() == []
