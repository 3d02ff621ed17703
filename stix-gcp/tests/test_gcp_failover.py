"""Failover on the fake Compute API: zone stockouts, regional quotas, permission errors, and
Spot preemption seen by ``status --refresh``; ports, stop and start on real nodes."""

from __future__ import annotations

from pathlib import Path

import pytest
from gcp_fakes import FakeComputeApi
from test_gcp_e2e import task_file


def test_stockout_in_one_zone_moves_to_the_next_and_a_slow_start_is_waited_for(
    gce: FakeComputeApi, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import stix.sdk as sdk

    gce.cloud.faults.stockout("us-central1-a")
    gce.cloud.faults.slow_start(3)  # STAGING until the node answers SSH
    result = sdk.launch(task_file(tmp_path, "so", "echo ok > ~/ok"), "so")
    assert result.status == "SUCCEEDED"
    assert gce.inserts[0] == "us-central1-a"
    zones = {z for z, _n in gce.instances}
    assert zones and "us-central1-a" not in zones
    err = capfd.readouterr().err
    assert "us-central1-a" in err and "no capacity" in err
    sdk.down("so")


def test_regional_quota_skips_the_region(gce: FakeComputeApi, tmp_path: Path) -> None:
    import stix.sdk as sdk

    gce.cloud.faults.over_quota("us-central1")
    path = task_file(tmp_path, "q", "true", infra="gcp")
    result = sdk.launch(path, "q")
    assert result.status == "SUCCEEDED"
    tried = [z.rsplit("-", 1)[0] for z in gce.inserts]
    assert tried.count("us-central1") == 1  # one quota error blocks the whole region
    assert {z.rsplit("-", 1)[0] for z, _n in gce.instances} != {"us-central1"}
    sdk.down("q")


def test_permission_denied_names_the_roles(gce: FakeComputeApi, tmp_path: Path) -> None:
    import stix.sdk as sdk
    from stix.errors import StixError

    gce.forbidden = True
    with pytest.raises(StixError) as caught:
        sdk.launch(task_file(tmp_path, "pd", "true"), "pd")
    assert "permission denied" in caught.value.message
    gce.forbidden = False
    assert sdk.status(["pd"]) == [] or sdk.down("pd") is None


def test_spot_preemption_is_seen_by_status_refresh(gce: FakeComputeApi, tmp_path: Path) -> None:
    import stix.sdk as sdk

    path = task_file(tmp_path, "sp", "true", use_spot=True, num_nodes=2)
    assert sdk.launch(path, "sp").status == "SUCCEEDED"
    spots = [i["scheduling"]["provisioningModel"] for i in gce.instances.values()]
    assert spots == ["SPOT", "SPOT"]
    worker = next(n for _z, n in gce.instances if n.endswith("-worker-1"))
    gce.preempt(worker)
    [record] = sdk.status(["sp"], refresh=True)
    assert record.status == "INIT"  # one node of two is gone
    head = next(n for _z, n in gce.instances if n.endswith("-head"))
    gce.preempt(head)
    assert sdk.status(["sp"], refresh=True) == []  # every node reclaimed: the cluster is gone
    assert gce.instances == {} and gce.firewalls == {}


def test_ports_stop_and_start(gce: FakeComputeApi, tmp_path: Path) -> None:
    import stix.sdk as sdk

    path = task_file(tmp_path, "pt", "echo $SKYPILOT_NODE_RANK > ~/r", ports=[8080, "9000-9002"])
    assert sdk.launch(path, "pt").status == "SUCCEEDED"
    [rule] = [r for n, r in gce.firewalls.items() if n.endswith("-ports")]
    assert rule["allowed"] == [{"IPProtocol": "tcp", "ports": ["8080", "9000-9002"]}]
    assert rule["targetTags"] == gce.instances[next(iter(gce.instances))]["tags"]["items"]

    sdk.stop("pt")
    assert [r.status for r in sdk.status(["pt"], refresh=True)] == ["STOPPED"]
    assert {gce.view(i)["status"] for i in gce.instances.values()} == {"TERMINATED"}
    sdk.start("pt")
    assert [r.status for r in sdk.status(["pt"], refresh=True)] == ["UP"]
    sdk.down("pt")
    assert gce.firewalls == {}
