"""Failover across regions on Azure's documented errors, and Spot eviction seen by ``status --refresh``.

Faults are injected on the harness (``stockout``/``over_quota`` per region); the fake ARM
server answers them with ``SkuNotAvailable`` (synchronous 409), ``AllocationFailed``-like
codes (the long-running operation fails), or ``OperationNotAllowed`` on regional cores.
Every failed region's resource group is deleted: nothing is left but the cluster.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from stix.errors import NoCapacityError, QuotaError, ResourcesUnavailableError
from test_azure_e2e import launcher, task_file

__all__ = ["launcher"]


def tried_regions(arm: Any) -> list[str]:
    """Regions whose resource group was created, in order."""
    out = []
    for method, path in arm.calls:
        match = re.fullmatch(r"/subscriptions/[^/]+/resourcegroups/stix-.+-([a-z0-9]+)", path)
        if method == "PUT" and match and match.group(1) not in out:
            out.append(match.group(1))
    return out


def test_capacity_errors_move_to_the_next_region(launcher: Any, cloud: Any, tmp_path: Path) -> None:
    """eastus: SkuNotAvailable at once; westus2: the create operation fails with AllocationFailed."""
    import stix.sdk as sdk

    launcher.capacity_codes.update(eastus="SkuNotAvailable", westus2="AllocationFailed")
    launcher.calls.clear()
    cloud.faults.stockout("eastus", "westus2")
    result = sdk.launch(task_file(tmp_path, "fo", 1, "echo ok"), "azfo")
    assert result.status == "SUCCEEDED"
    assert tried_regions(launcher) == ["eastus", "westus2", "westeurope"]
    assert [g.rsplit("-", 1)[1] for g in launcher.group_names()] == ["westeurope"]
    # what the failed regions made (their IPs, NICs, the failed VM) went with their groups
    assert len(launcher.of_type("Microsoft.Network/publicIPAddresses")) == 1
    assert len(launcher.of_type("Microsoft.Compute/virtualMachines")) == 1
    [record] = sdk.status(["azfo"])
    assert record.region == "westeurope"
    sdk.down("azfo")


@pytest.mark.parametrize(
    ("fault", "code", "error", "words"),
    [
        ("capacity", "ZonalAllocationFailed", NoCapacityError, "no capacity in the zone"),
        ("capacity", "OverconstrainedAllocationRequest", NoCapacityError, "constraints"),
        ("capacity", "SkuNotAvailable", NoCapacityError, "not available in this region"),
        ("quota", None, QuotaError, "core quota reached"),
    ],
)
def test_provisioner_maps_create_errors(
    arm: Any, cloud: Any, fault: str, code: str | None, error: type, words: str
) -> None:
    from stix_azure.provisioner import AzureProvisioner
    from test_azure_provisioner import make_config

    if code:
        arm.capacity_code = code
    (cloud.faults.stockout if fault == "capacity" else cloud.faults.over_quota)("eastus")
    prov = AzureProvisioner()
    with pytest.raises(error, match=words) as info:
        prov.run_instances(make_config("err"))
    assert info.value.scope == ("zone" if fault == "capacity" else "region")
    assert "Standard_D2s_v5 in eastus" in info.value.message
    prov.terminate_instances("err-1a2b", "eastus")
    assert cloud.assigned() == []


def test_rejected_token_stops_using_azure(
    launcher: Any, cloud: Any, tmp_path: Path, fake_bin: Path
) -> None:
    import stix.sdk as sdk

    from conftest import fake_token, write_fake_az

    launcher.calls.clear()
    write_fake_az(fake_bin, token=fake_token({"upn": "mallory@example.com"}))
    with pytest.raises(ResourcesUnavailableError, match="not authenticated") as info:
        sdk.launch(task_file(tmp_path, "auth", 1, "echo ok"), "azauth")
    assert "after 1 attempt" in info.value.message  # one try, then Azure is blocked


def test_spot_eviction_is_seen_by_status_refresh(launcher: Any, cloud: Any, tmp_path: Path) -> None:
    import stix.sdk as sdk
    from stix_azure.provisioner import AzureProvisioner

    result = sdk.launch(task_file(tmp_path, "spot", 2, "echo ok", use_spot=True), "azspot")
    assert result.status == "SUCCEEDED"
    assert [r.status for r in sdk.status(["azspot"], refresh=True)] == ["UP"]
    worker = next(
        v
        for v in launcher.of_type("Microsoft.Compute/virtualMachines")
        if v["tags"]["stix-rank"] == "1"
    )
    cloud.preempt(worker["id"].lower())  # eviction policy Delete: the VM, disk, NIC and IP go
    cno = worker["tags"]["stix-cluster"]
    assert AzureProvisioner().query_instances(cno, None) == {f"{cno}-0": "UP", f"{cno}-1": None}
    assert [r.status for r in sdk.status(["azspot"], refresh=True)] == ["INIT"]
    assert len(launcher.of_type("Microsoft.Compute/disks")) == 1

    head = next(v for v in launcher.of_type("Microsoft.Compute/virtualMachines"))
    cloud.preempt(head["id"].lower())
    assert sdk.status(["azspot"], refresh=True) == []  # every node evicted: the cluster is gone
    assert launcher.group_names() == [] and cloud.assigned() == []


def test_deallocate_eviction_shows_stopped_and_restarts(
    launcher: Any, cloud: Any, tmp_path: Path, stix_home: Path
) -> None:
    import stix.sdk as sdk

    from conftest import write_config

    write_config(stix_home, spot_eviction_policy="Deallocate")
    sdk.launch(task_file(tmp_path, "keep", 1, "echo ok", use_spot=True), "azkeep")
    [vm] = launcher.of_type("Microsoft.Compute/virtualMachines")
    cloud.preempt(vm["id"].lower())
    assert [r.status for r in sdk.status(["azkeep"], refresh=True)] == ["STOPPED"]
    sdk.start("azkeep")
    assert cloud.node(vm["id"].lower()).state == "running"
    assert [r.status for r in sdk.status(["azkeep"], refresh=True)] == ["UP"]
    sdk.down("azkeep")
