"""What a VM request says: images by URN, tag or id; OS disk tiers; Spot; NSG rules; errors."""

from __future__ import annotations

import pytest
from stix.errors import ProvisionError
from stix_azure import network, vmspec


def test_images() -> None:
    urn = vmspec.image_reference(
        "Canonical:ubuntu-24_04-lts:server:latest", "Standard_D2s_v5", "eastus"
    )
    assert urn == {
        "publisher": "Canonical",
        "offer": "ubuntu-24_04-lts",
        "sku": "server",
        "version": "latest",
    }
    assert (
        vmspec.image_reference(None, "Standard_NC4as_T4_v3", "eastus")["publisher"]
        == "microsoft-dsvm"
    )
    assert vmspec.image_reference(None, "Standard_D2s_v5", "eastus")["sku"] == "22_04-lts-gen2"
    assert (
        vmspec.image_reference("skypilot:gpu-ubuntu-2204", "Standard_D2s_v5", "x")["offer"]
        == "ubuntu-hpc"
    )
    gallery = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/galleries/x/images/y"
    assert vmspec.image_reference({"westus2": gallery}, "Standard_D2s_v5", "westus2") == {
        "id": gallery
    }
    with pytest.raises(ProvisionError, match="not a marketplace URN") as info:
        vmspec.image_reference("ubuntu", "Standard_D2s_v5", "eastus")
    assert info.value.scope == "abort"


def test_os_disk_tiers_and_spot() -> None:
    assert vmspec.os_disk("d", None, None)["managedDisk"] == {
        "storageAccountType": "StandardSSD_LRS"
    }
    assert vmspec.os_disk("d", 64, "low")["diskSizeGB"] == 64
    assert vmspec.os_disk("d", 64, "best")["managedDisk"]["storageAccountType"] == "Premium_LRS"
    with pytest.raises(ProvisionError, match="disk_tier"):
        vmspec.os_disk("d", 64, "platinum")
    assert vmspec.spot_settings("deallocate")["evictionPolicy"] == "Deallocate"
    with pytest.raises(ProvisionError, match=r"azure\.spot_eviction_policy"):
        vmspec.spot_settings("hibernate")


def test_security_rules() -> None:
    rules = network.security_rules(("8080", "9000-9010", "8080"))
    assert [(r["properties"]["priority"], r["properties"]["destinationPortRange"]) for r in rules] == [
        (1000, "22"), (1100, "8080"), (1101, "9000-9010")]  # fmt: skip
    for bad in ("http", "0", "70000", "90-80"):
        with pytest.raises(ProvisionError, match=r"resources\.ports"):
            network.security_rules((bad,))


def test_power_states() -> None:
    view = {
        "statuses": [{"code": "ProvisioningState/succeeded"}, {"code": "PowerState/deallocated"}]
    }
    assert vmspec.power_state(view) == "deallocated"
    assert vmspec.STATUS[vmspec.power_state(view) or ""] == "STOPPED"
    assert vmspec.power_state({"statuses": [{"code": "ProvisioningState/creating"}]}) is None
