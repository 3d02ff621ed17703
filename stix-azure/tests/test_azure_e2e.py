"""``stix launch`` on ``infra: azure`` end to end: the core's optimizer and failover, the real
azure-mgmt clients against the fake ARM server, real sshd nodes, the agent and a 2-node job.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from stix_azure.catalog import COLUMNS

# (region, on-demand price, spot price): eastus is cheapest, so it is tried first
PLACES = [("eastus", 0.096, 0.02), ("westus2", 0.1, 0.03), ("westeurope", 0.115, 0.04)]


def write_catalog(stix_home: Path, places: list[tuple[str, float, float]] = PLACES) -> None:
    folder = stix_home / "catalogs" / "azure"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "vms.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for region, price, spot in places:
            writer.writerow(
                {
                    "InstanceType": "Standard_D2s_v5",
                    "vCPUs": 2,
                    "MemoryGiB": 8,
                    "Price": price,
                    "SpotPrice": spot,
                    "Region": region,
                    "Generation": "V1,V2",
                }
            )


@pytest.fixture
def launcher(
    arm: Any, stix_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """A fresh registry of the installed plugins, the test catalog, and a private ``$HOME``."""
    from stix.plugins import Registry, reset_registry
    from stix.runner.ssh_conn import POOL

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("STIX_RETRY_BACKOFF", "0")
    write_catalog(stix_home)
    reset_registry(Registry())
    try:
        yield arm
    finally:
        import stix.sdk as sdk

        for record in sdk.status():
            sdk.down(record.name)
        reset_registry(None)
        POOL.close_all()


def task_file(tmp_path: Path, name: str, num_nodes: int, run: str, **resources: Any) -> str:
    doc = {
        "name": name,
        "num_nodes": num_nodes,
        "resources": {"infra": "azure", "instance_type": "Standard_D2s_v5", **resources},
        "run": run,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def job_log(cluster: str, job_id: int | None) -> str:
    import stix.sdk as sdk

    chunks: list[bytes] = []
    sdk.tail_logs(cluster, job_id, follow=False, write=chunks.append)
    return b"".join(chunks).decode(errors="replace")


def test_two_node_job_reads_both_ranks(launcher: Any, cloud: Any, tmp_path: Path) -> None:
    import stix.sdk as sdk

    run = (
        'echo "rank $SKYPILOT_NODE_RANK of $SKYPILOT_NUM_NODES"; '
        'echo "$SKYPILOT_NODE_RANK $(echo $SKYPILOT_NODE_IPS)" > ~/rank.txt'
    )
    result = sdk.launch(task_file(tmp_path, "pair", 2, run), "azpair")
    assert result.status == "SUCCEEDED"
    vms = sorted(launcher.of_type("Microsoft.Compute/virtualMachines"), key=lambda v: v["name"])
    nodes = [cloud.node(vm["id"].lower()) for vm in vms]
    ips = " ".join(n.ip for n in nodes)
    for rank, node in enumerate(nodes):
        assert (node.home / "rank.txt").read_text() == f"{rank} {ips}\n"
    log = job_log("azpair", result.job_id)
    assert "rank 0 of 2" in log and "rank 1 of 2" in log
    [group] = launcher.group_names()
    assert group.endswith("-eastus")
    sdk.down("azpair")
    assert launcher.group_names() == [] and cloud.assigned() == []


def test_blob_storage_object_and_url_copied_onto_the_node(
    launcher: Any, cloud: Any, tmp_path: Path, bridge_azurite: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``store: azure`` (created, uploaded, COPY'd through a SAS URL, gone with the cluster) and
    a user's ``https://<account>.blob.core.windows.net`` folder, on a real node via Azurite."""
    import stix.sdk as sdk
    from azure.storage.blob import BlobServiceClient
    from azure_azurite import ACCOUNT

    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", bridge_azurite)
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_text("alpha")
    (data / "sub" / "b.txt").write_text("beta")
    doc = yaml.safe_load(
        Path(task_file(tmp_path, "blob", 1, "cat ~/data/a.txt ~/theirs/note.txt")).read_text()
    )
    doc["file_mounts"] = {
        "~/data": {
            "name": "stix-e2e-blob",
            "source": str(data),
            "store": "azure",
            "mode": "COPY",
            "persistent": False,
        },
        "~/theirs": f"https://{ACCOUNT}.blob.core.windows.net/their-box/notes",
    }
    path = tmp_path / "blob.yaml"
    path.write_text(yaml.safe_dump(doc))
    service = BlobServiceClient.from_connection_string(bridge_azurite)
    service.create_container("their-box").upload_blob("notes/note.txt", b"beta")
    try:
        result = sdk.launch(str(path), "azblob")
        assert result.status == "SUCCEEDED"
        assert "alphabeta" in job_log("azblob", result.job_id).replace("\n", "")
        [vm] = launcher.of_type("Microsoft.Compute/virtualMachines")
        home = cloud.node(vm["id"].lower()).home
        assert (home / "data" / "sub" / "b.txt").read_text() == "beta"
        assert sorted(c.name for c in service.list_containers()) == ["stix-e2e-blob", "their-box"]
        sdk.down("azblob")
        # persistent: false and made by STIX: gone with the cluster; the user's stays
        assert [c.name for c in service.list_containers()] == ["their-box"]
    finally:
        for item in service.list_containers():
            service.delete_container(item.name)


def test_state_recover_finds_the_tagged_azure_cluster_after_state_db_is_lost(
    launcher: Any, cloud: Any, tmp_path: Path, cli: Any
) -> None:
    import stix.sdk as sdk
    from harness.recover import lose_state_and_recover

    assert sdk.launch(task_file(tmp_path, "rec", 1, "true"), "azrec").status == "SUCCEEDED"
    record = lose_state_and_recover(cli, "azrec")
    assert (record.status, record.cloud, record.region) == ("UP", "azure", "eastus")
    assert cli("down", "azrec", "--yes").exit_code == 0
    assert launcher.group_names() == [] and cloud.assigned() == []
