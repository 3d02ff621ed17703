"""The Azure provisioner through the real azure-mgmt clients against the fake ARM server.

Launch, addresses, tags, disks, NSG rules, stop (deallocate) / start, idempotent
relaunch, and ``down`` deleting the cluster's resource group with everything in it.
"""

from __future__ import annotations

from typing import Any

from stix.interfaces import ProvisionConfig
from stix.task import Resources
from stix_azure.provisioner import AzureProvisioner, group_name

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHp5Yq7kd1zH0gO6mJ3sYc7Qe4bX0VJw3XzjQ0H1s4rH stix-test"


def make_config(
    name: str, count: int = 1, region: str = "eastus", **resources: Any
) -> ProvisionConfig:
    fields = {"cloud": "azure", "instance_type": "Standard_D2s_v5", **resources}
    return ProvisionConfig(
        cluster_name=name,
        cluster_name_on_cloud=f"{name}-1a2b",
        count=count,
        resources=Resources(**fields),
        region=region,
        ssh_public_key=KEY,
    )


def test_two_nodes_launch_stop_start_down(arm: Any, cloud: Any) -> None:
    prov = AzureProvisioner()
    config = make_config(
        "pair",
        count=2,
        ports=("8080", "9000-9010"),
        disk_size=64,
        disk_tier="high",
        labels={"team": "ml"},
    )
    config = prov.bootstrap(config)
    group = group_name("pair-1a2b", "eastus")
    assert arm.group_names() == [group]
    record = prov.run_instances(config)
    prov.wait_instances("pair-1a2b", "eastus", "UP")
    assert record.cloud == "azure" and record.region == "eastus"
    assert record.head_instance_id == "pair-1a2b-0"
    assert sorted(record.created_instance_ids) == ["pair-1a2b-0", "pair-1a2b-1"]

    vms = {vm["name"]: vm for vm in arm.of_type("Microsoft.Compute/virtualMachines")}
    head = vms["pair-1a2b-0"]
    assert head["tags"]["stix-rank"] == "0" and head["tags"]["stix-role"] == "head"
    assert vms["pair-1a2b-1"]["tags"]["stix-rank"] == "1"
    assert head["tags"]["stix-cluster"] == "pair-1a2b" and head["tags"]["team"] == "ml"
    disk = head["properties"]["storageProfile"]["osDisk"]
    assert disk["diskSizeGB"] == 64 and disk["managedDisk"]["storageAccountType"] == "Premium_LRS"
    assert head["properties"]["osProfile"]["adminUsername"] == cloud.user
    assert head["properties"]["storageProfile"]["imageReference"]["offer"].endswith("jammy")
    assert "priority" not in head["properties"]
    (nsg,) = arm.of_type("Microsoft.Network/networkSecurityGroups")
    ports = sorted(
        r["properties"]["destinationPortRange"] for r in nsg["properties"]["securityRules"]
    )
    assert ports == ["22", "8080", "9000-9010"]
    assert len(arm.of_type("Microsoft.Network/publicIPAddresses")) == 2
    assert len(arm.of_type("Microsoft.Compute/disks")) == 2

    info = prov.get_cluster_info("pair-1a2b", "eastus")
    assert [i.instance_id for i in info.instances] == ["pair-1a2b-0", "pair-1a2b-1"]
    ips = [cloud.node(vm["id"].lower()).ip for vm in (head, vms["pair-1a2b-1"])]
    assert [i.external_ip for i in info.instances] == ips
    assert [i.internal_ip for i in info.instances] == ips
    assert info.ssh_user == cloud.user and info.provider_config["cluster_name"] == "pair"
    assert prov.query_instances("pair-1a2b", "eastus") == {"pair-1a2b-0": "UP", "pair-1a2b-1": "UP"}

    prov.stop_instances("pair-1a2b", "eastus")
    prov.wait_instances("pair-1a2b", "eastus", "STOPPED")
    assert set(prov.query_instances("pair-1a2b", None).values()) == {"STOPPED"}
    assert {cloud.node(vm["id"].lower()).state for vm in vms.values()} == {"stopped"}

    again = prov.run_instances(config)  # start: resumes the deallocated nodes, creates nothing
    prov.wait_instances("pair-1a2b", "eastus", "UP")
    assert sorted(again.resumed_instance_ids) == ["pair-1a2b-0", "pair-1a2b-1"]
    assert again.created_instance_ids == ()
    assert {cloud.node(vm["id"].lower()).state for vm in vms.values()} == {"running"}

    prov.terminate_instances("pair-1a2b", "eastus")
    assert arm.group_names() == [] and cloud.assigned() == []
    assert arm.of_type("Microsoft.Compute/disks") == []
    prov.terminate_instances("pair-1a2b", "eastus")  # already gone: fine
    assert prov.query_instances("pair-1a2b", "eastus") == {}


def test_relaunch_creates_only_the_missing_rank(arm: Any, cloud: Any) -> None:
    prov = AzureProvisioner()
    prov.run_instances(make_config("grow", count=1))
    record = prov.run_instances(make_config("grow", count=2))
    assert record.created_instance_ids == ("grow-1a2b-1",)
    prov.wait_instances("grow-1a2b", "eastus", "UP")
    assert len(cloud.assigned()) == 2
    prov.open_ports("grow-1a2b", "eastus", ("8888", "22"))
    prov.open_ports("grow-1a2b", None, ("8888",))  # again: nothing added
    (nsg,) = arm.of_type("Microsoft.Network/networkSecurityGroups")
    rules = {
        r["properties"]["destinationPortRange"]: r["properties"]["priority"]
        for r in nsg["properties"]["securityRules"]
    }
    assert rules == {"22": 1000, "8888": 1100}
    prov.terminate_instances("grow-1a2b", None)  # region unknown: found by the group's tag


def test_spot_with_gpu_image_and_eviction_policy(arm: Any, stix_home: Any) -> None:
    from conftest import write_config

    write_config(stix_home, spot_eviction_policy="Deallocate")
    prov = AzureProvisioner()
    prov.run_instances(make_config("cheap", instance_type="Standard_NC4as_T4_v3", use_spot=True))
    (body,) = arm.vm_bodies
    props = body["properties"]
    assert props["priority"] == "Spot" and props["evictionPolicy"] == "Deallocate"
    assert props["billingProfile"] == {"maxPrice": -1}
    assert props["storageProfile"]["imageReference"]["publisher"] == "microsoft-dsvm"
    prov.wait_instances("cheap-1a2b", "eastus", "UP")
    assert prov.get_cluster_info("cheap-1a2b", "eastus").provider_config["use_spot"] is True
    prov.terminate_instances("cheap-1a2b", "eastus")


def test_long_running_operations_are_waited_on_with_a_limit(arm: Any, stix_home: Any) -> None:
    import pytest
    from stix.errors import ProvisionError

    from conftest import write_config

    write_config(stix_home, wait_seconds=2)
    arm.polls = 10_000  # the network operations never finish
    prov = AzureProvisioner()
    try:
        with pytest.raises(
            ProvisionError, match=r"security group slow-1a2b-nsg did not finish within 2 s"
        ) as info:
            prov.bootstrap(make_config("slow"))
        assert info.value.scope == "region"  # failover moves on to the next region
    finally:
        arm.polls = 1
    write_config(stix_home, wait_seconds=60)
    prov.terminate_instances("slow-1a2b", "eastus")


def test_relaunch_replaces_a_node_whose_creation_failed(arm: Any, cloud: Any) -> None:
    import pytest
    from stix.errors import NoCapacityError

    prov = AzureProvisioner()
    cloud.faults.stockout("eastus", times=1)
    with pytest.raises(NoCapacityError, match="AllocationFailed"):
        prov.run_instances(make_config("retry"))
    [failed] = arm.of_type("Microsoft.Compute/virtualMachines")
    assert failed["properties"]["provisioningState"] == "Failed"
    record = prov.run_instances(make_config("retry"))  # the failed VM goes, rank 0 is made again
    assert record.created_instance_ids == ("retry-1a2b-0",)
    prov.wait_instances("retry-1a2b", "eastus", "UP")
    assert len(arm.of_type("Microsoft.Network/publicIPAddresses")) == 1
    assert len(cloud.assigned()) == 1
    prov.terminate_instances("retry-1a2b", "eastus")
