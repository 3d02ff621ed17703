"""The provisioner's verbs on the fake Compute API: idempotent launch and down, what an
instance is made of (machine type, GPUs on N1, disks, images, labels, Spot, SSH key)."""

from __future__ import annotations

from typing import Any

import pytest
from gcp_fakes import FakeComputeApi
from stix.interfaces import ProvisionConfig


def make_config(name: str, count: int = 1, **resources: Any) -> ProvisionConfig:
    from stix.task import Resources

    fields = {"instance_type": "n1-standard-8", **resources}
    return ProvisionConfig(
        cluster_name=name,
        cluster_name_on_cloud=f"{name}-c0de",
        count=count,
        resources=Resources(**fields),
        region="us-central1",
        zones=("us-central1-b",),
    )


def test_run_again_finishes_a_half_made_cluster_and_down_twice_is_fine(gce: FakeComputeApi) -> None:
    from stix_gcp.provisioner import GcpProvisioner

    prov = GcpProvisioner()
    config = prov.bootstrap(make_config("idem", count=3))
    first = prov.run_instances(config)
    assert len(first.created_instance_ids) == 3 and first.zone == "us-central1-b"
    again = prov.run_instances(config)
    assert again.created_instance_ids == () and len(gce.instances) == 3
    # a worker vanishes outside stix: the next run makes only that rank again
    worker = ("us-central1-b", "idem-c0de-worker-2")
    gce.cloud.release(gce.instances.pop(worker)["_node"])
    fixed = prov.run_instances(config)
    assert fixed.created_instance_ids == ("idem-c0de-worker-2",)
    prov.wait_instances("idem-c0de", "us-central1", "UP")
    info = prov.get_cluster_info("idem-c0de", "us-central1")
    assert [i.instance_id for i in info.instances] == [
        "idem-c0de-head",
        "idem-c0de-worker-1",
        "idem-c0de-worker-2",
    ]
    assert (
        info.instances[0].internal_ip
        == gce.cloud.node(gce.node_id("us-central1-b", "idem-c0de-head")).ip
    )
    prov.terminate_instances("idem-c0de", "us-central1")
    prov.terminate_instances("idem-c0de", "us-central1")
    assert gce.leftovers() == {}


def test_an_instance_carries_gpus_disk_image_labels_spot_and_key(gce: FakeComputeApi) -> None:
    from stix_gcp.provisioner import GcpProvisioner

    prov = GcpProvisioner()
    config = prov.bootstrap(
        make_config(
            "body",
            accelerators={"T4": 1},
            use_spot=True,
            disk_size=100,
            disk_tier="high",
            labels={"Team": "ML"},
        )
    )
    prov.run_instances(config)
    [inst] = gce.instances.values()
    assert inst["guestAccelerators"] == [
        {
            "acceleratorType": "zones/us-central1-b/acceleratorTypes/nvidia-tesla-t4",
            "acceleratorCount": 1,
        }
    ]
    params = inst["disks"][0]["initializeParams"]
    assert params["diskType"] == "zones/us-central1-b/diskTypes/pd-ssd"
    assert int(params["diskSizeGb"]) == 100
    assert params["sourceImage"].startswith("projects/deeplearning-platform-release/")
    assert inst["scheduling"]["provisioningModel"] == "SPOT"
    assert inst["scheduling"]["instanceTerminationAction"] == "STOP"
    assert inst["labels"]["team"] == "ml" and inst["labels"]["stix-rank"] == "0"
    [key] = [i["value"] for i in inst["metadata"]["items"] if i["key"] == "ssh-keys"]
    assert key.startswith(f"{gce.cloud.user}:ssh-ed25519 ")
    prov.terminate_instances("body-c0de", "us-central1")


@pytest.mark.parametrize(
    ("resources", "image", "attached"),
    [
        ({"instance_type": "g2-standard-4", "accelerators": {"L4": 1}}, "deeplearning", []),
        ({"instance_type": "e2-standard-2"}, "ubuntu-os-cloud", []),
        ({"instance_type": "e2-standard-2", "image_id": "projects/p/global/images/family/f"}, "projects/p/", []),
        ({"instance_type": "n1-standard-8", "accelerators": {"V100": 2}}, "deeplearning", ["nvidia-tesla-v100"]),
    ],
)  # fmt: skip
def test_images_and_attached_gpus(
    resources: dict[str, Any], image: str, attached: list[str]
) -> None:
    from stix.task import Resources
    from stix_gcp import machines

    res = Resources(**resources)
    assert image in machines.image(res, "us-central1")
    got = machines.guest_accelerators(res, "us-central1-a")
    assert [g["accelerator_type"].rsplit("/", 1)[-1] for g in got] == attached


def test_bad_disk_tier_and_image_are_one_line_aborts() -> None:
    from stix.errors import ProvisionError
    from stix.task import Resources
    from stix_gcp import machines

    with pytest.raises(ProvisionError, match="image_id") as caught:
        machines.image(Resources(image_id="a/b"), "us-central1")
    assert caught.value.scope == "abort"
    assert machines.label_value("My_Cluster.Name") == "my_cluster-name"
    assert len(machines.instance_name("x" * 80, 12)) <= 63
