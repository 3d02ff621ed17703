"""The AWS provisioner against moto's server: launch, stop, start, down, spot, idempotence, refresh."""

from __future__ import annotations

import os
from typing import Any

import pytest
from stix.errors import ClusterError
from stix.interfaces import ProvisionConfig
from stix.task import Resources
from stix_aws.provisioner import AwsProvisioner
from stix_aws.tags import TAG_CLUSTER, TAG_CLUSTER_NAME, TAG_RANK, TAG_ROLE, tag_dict


def make_config(name: str, key: str, count: int = 1, **resources: Any) -> ProvisionConfig:
    fields = {"cloud": "aws", "instance_type": "m6i.large", **resources}
    return ProvisionConfig(
        cluster_name=name,
        cluster_name_on_cloud=f"{name}-1a2b",
        count=count,
        resources=Resources(**fields),
        region="us-east-1",
        ssh_public_key=key,
    )


def instances(
    ec2: Any,
    name_on_cloud: str,
    states: tuple[str, ...] = ("pending", "running", "stopping", "stopped"),
) -> list[dict[str, Any]]:
    reservations = ec2.describe_instances(
        Filters=[
            {"Name": f"tag:{TAG_CLUSTER}", "Values": [name_on_cloud]},
            {"Name": "instance-state-name", "Values": list(states)},
        ]
    )["Reservations"]
    return [i for r in reservations for i in r["Instances"]]


def group_of(ec2: Any, name_on_cloud: str) -> dict[str, Any]:
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"stix-{name_on_cloud}"]}]
    )["SecurityGroups"]
    assert len(groups) == 1
    return groups[0]


@pytest.fixture
def prov() -> AwsProvisioner:
    return AwsProvisioner()


def test_one_node_launch_stop_start_down(
    aws: str, ec2: Any, prov: AwsProvisioner, ssh_public_key: str
) -> None:
    config = make_config(
        "solo",
        ssh_public_key,
        ports=("8080", "9000-9010"),
        disk_size=100,
        disk_tier="high",
        labels={"team": "ml"},
    )
    record = prov.run_instances(config)
    prov.wait_instances(config.cluster_name_on_cloud, "us-east-1", "UP")
    assert record.cloud == "aws" and record.region == "us-east-1"
    assert record.zone and record.zone.startswith("us-east-1")
    assert (
        len(record.created_instance_ids) == 1
        and record.head_instance_id == record.created_instance_ids[0]
    )

    (node,) = instances(ec2, config.cluster_name_on_cloud)
    tags = tag_dict(node["Tags"])
    assert tags[TAG_CLUSTER_NAME] == "solo" and tags[TAG_RANK] == "0" and tags[TAG_ROLE] == "head"
    assert tags["team"] == "ml" and tags["Name"] == "solo"
    assert node["InstanceType"] == "m6i.large" and node["KeyName"] == "stix-solo-1a2b"
    assert node["IamInstanceProfile"]["Arn"].endswith("/stix-node")
    assert node.get("InstanceLifecycle") != "spot"

    group = group_of(ec2, config.cluster_name_on_cloud)
    assert node["SecurityGroups"][0]["GroupId"] == group["GroupId"]
    tcp = sorted(
        (p["FromPort"], p["ToPort"]) for p in group["IpPermissions"] if p["IpProtocol"] == "tcp"
    )
    assert tcp == [(22, 22), (8080, 8080), (9000, 9010)]
    assert any(p["IpProtocol"] == "-1" for p in group["IpPermissions"]), (
        "nodes must reach each other"
    )
    assert [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]] == ["stix-solo-1a2b"]

    volumes = ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [node["InstanceId"]]}]
    )["Volumes"]
    assert [(v["Size"], v["VolumeType"]) for v in volumes] == [(100, "gp3")]  # moto keeps no IOPS

    info = prov.get_cluster_info(config.cluster_name_on_cloud, "us-east-1")
    assert info.head.instance_id == node["InstanceId"] and info.head.internal_ip
    assert info.ssh_user == "ubuntu" and info.zone == record.zone

    prov.stop_instances(config.cluster_name_on_cloud, "us-east-1")
    prov.wait_instances(config.cluster_name_on_cloud, "us-east-1", "STOPPED")
    assert prov.query_instances(config.cluster_name_on_cloud, "us-east-1") == {
        node["InstanceId"]: "STOPPED"
    }

    again = prov.run_instances(config)  # start: resumes the stopped node, creates nothing
    prov.wait_instances(config.cluster_name_on_cloud, "us-east-1", "UP")
    assert again.resumed_instance_ids == (node["InstanceId"],) and again.created_instance_ids == ()
    assert prov.query_instances(config.cluster_name_on_cloud, "us-east-1") == {
        node["InstanceId"]: "UP"
    }

    prov.terminate_instances(config.cluster_name_on_cloud, "us-east-1")
    assert instances(ec2, config.cluster_name_on_cloud) == []
    prov.terminate_instances(config.cluster_name_on_cloud, "us-east-1")  # already gone: fine


def test_two_nodes_head_and_worker_in_one_zone(
    aws: str, ec2: Any, prov: AwsProvisioner, ssh_public_key: str
) -> None:
    config = make_config("pair", ssh_public_key, count=2, disk_size=64, disk_tier="low")
    record = prov.run_instances(config)
    prov.wait_instances(config.cluster_name_on_cloud, None, "UP")
    nodes = instances(ec2, config.cluster_name_on_cloud)
    volumes = ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [n["InstanceId"] for n in nodes]}]
    )["Volumes"]
    assert sorted((v["Size"], v["VolumeType"]) for v in volumes) == [(64, "gp3"), (64, "gp3")]
    assert len(nodes) == 2 and len(record.created_instance_ids) == 2
    by_rank = {tag_dict(n["Tags"])[TAG_RANK]: n for n in nodes}
    assert tag_dict(by_rank["0"]["Tags"])[TAG_ROLE] == "head"
    assert tag_dict(by_rank["1"]["Tags"])[TAG_ROLE] == "worker"
    assert record.head_instance_id == by_rank["0"]["InstanceId"]
    assert {n["Placement"]["AvailabilityZone"] for n in nodes} == {record.zone}

    info = prov.get_cluster_info(config.cluster_name_on_cloud, None)
    assert [i.instance_id for i in info.instances] == [
        by_rank["0"]["InstanceId"],
        by_rank["1"]["InstanceId"],
    ]

    prov.stop_instances(config.cluster_name_on_cloud, None)
    prov.wait_instances(config.cluster_name_on_cloud, None, "STOPPED")
    resumed = prov.run_instances(config)
    assert sorted(resumed.resumed_instance_ids) == sorted(n["InstanceId"] for n in nodes)
    prov.wait_instances(config.cluster_name_on_cloud, None, "UP")
    assert set(prov.query_instances(config.cluster_name_on_cloud, None).values()) == {"UP"}

    prov.terminate_instances(config.cluster_name_on_cloud, None)
    assert instances(ec2, config.cluster_name_on_cloud) == []


def test_spot_launch_cannot_be_stopped(
    aws: str, ec2: Any, prov: AwsProvisioner, ssh_public_key: str
) -> None:
    config = make_config("cheap", ssh_public_key, use_spot=True)
    prov.run_instances(config)
    (node,) = instances(ec2, config.cluster_name_on_cloud)
    assert node["InstanceLifecycle"] == "spot"
    assert (
        prov.get_cluster_info(config.cluster_name_on_cloud, None).provider_config["use_spot"]
        is True
    )
    with pytest.raises(ClusterError, match="spot"):
        prov.stop_instances(config.cluster_name_on_cloud, None)
    prov.terminate_instances(config.cluster_name_on_cloud, None)


def test_relaunch_resumes_a_half_created_cluster(
    aws: str, ec2: Any, prov: AwsProvisioner, ssh_public_key: str
) -> None:
    config = make_config("half", ssh_public_key, count=3)
    first = prov.run_instances(config)
    worker = next(
        n
        for n in instances(ec2, config.cluster_name_on_cloud)
        if tag_dict(n["Tags"])[TAG_RANK] == "2"
    )
    ec2.terminate_instances(InstanceIds=[worker["InstanceId"]])

    again = prov.run_instances(config)  # only rank 2 is made again, in the cluster's zone
    assert len(again.created_instance_ids) == 1 and again.head_instance_id == first.head_instance_id
    nodes = instances(ec2, config.cluster_name_on_cloud)
    assert sorted(tag_dict(n["Tags"])[TAG_RANK] for n in nodes) == ["0", "1", "2"]
    assert {n["Placement"]["AvailabilityZone"] for n in nodes} == {first.zone}
    assert prov.run_instances(config).created_instance_ids == ()  # nothing left to do
    prov.terminate_instances(config.cluster_name_on_cloud, None)


def test_untagged_nodes_get_ranks(
    aws: str, ec2: Any, prov: AwsProvisioner, ssh_public_key: str
) -> None:
    config = make_config("lost", ssh_public_key, count=2)
    prov.run_instances(config)
    ids = [n["InstanceId"] for n in instances(ec2, config.cluster_name_on_cloud)]
    ec2.delete_tags(Resources=ids, Tags=[{"Key": TAG_RANK}, {"Key": TAG_ROLE}])  # a run cut short
    record = prov.run_instances(config)
    assert record.created_instance_ids == ()
    ranks = sorted(
        tag_dict(n["Tags"]).get(TAG_RANK) for n in instances(ec2, config.cluster_name_on_cloud)
    )
    assert ranks == ["0", "1"]
    prov.terminate_instances(config.cluster_name_on_cloud, None)


def test_down_of_a_half_gone_cluster_completes(
    aws: str, ec2: Any, prov: AwsProvisioner, ssh_public_key: str
) -> None:
    config = make_config("gone", ssh_public_key, count=2)
    prov.run_instances(config)
    ids = [n["InstanceId"] for n in instances(ec2, config.cluster_name_on_cloud)]
    ec2.terminate_instances(InstanceIds=ids[:1])
    ec2.delete_key_pair(KeyName="stix-gone-1a2b")
    prov.terminate_instances(config.cluster_name_on_cloud, None)
    assert instances(ec2, config.cluster_name_on_cloud) == []


def test_refresh_detects_a_node_terminated_behind_our_back(
    aws: str, ec2: Any, prov: AwsProvisioner, ssh_public_key: str
) -> None:
    config = make_config("preempt", ssh_public_key, count=2, use_spot=True)
    prov.run_instances(config)
    nodes = {
        tag_dict(n["Tags"])[TAG_RANK]: n["InstanceId"]
        for n in instances(ec2, config.cluster_name_on_cloud)
    }
    ec2.terminate_instances(InstanceIds=[nodes["1"]])  # the cloud reclaims the worker

    status = prov.query_instances(config.cluster_name_on_cloud, None)
    assert status == {nodes["0"]: "UP", nodes["1"]: None}

    prov.run_instances(config)  # relaunch replaces the worker; the old one no longer counts
    status = prov.query_instances(config.cluster_name_on_cloud, None)
    assert nodes["1"] not in status and sorted(status.values(), key=str) == ["UP", "UP"]
    prov.terminate_instances(config.cluster_name_on_cloud, None)


def test_open_ports_later(aws: str, ec2: Any, prov: AwsProvisioner, ssh_public_key: str) -> None:
    config = make_config("web", ssh_public_key)
    prov.run_instances(config)
    prov.open_ports(config.cluster_name_on_cloud, None, ("443", "8000-8100"))
    prov.open_ports(config.cluster_name_on_cloud, None, ("443",))  # again: no duplicate error
    group = group_of(ec2, config.cluster_name_on_cloud)
    tcp = sorted(
        (p["FromPort"], p["ToPort"]) for p in group["IpPermissions"] if p["IpProtocol"] == "tcp"
    )
    assert tcp == [(22, 22), (443, 443), (8000, 8100)]
    prov.terminate_instances(config.cluster_name_on_cloud, None)


def test_image_per_region_and_no_instance_profile(
    aws: str, ec2: Any, prov: AwsProvisioner, ssh_public_key: str
) -> None:
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    config = make_config(
        "img", ssh_public_key, image_id={"us-east-1": ami, "us-west-2": "ami-12345678"}
    )
    config = ProvisionConfig(**{**_fields(config), "provider_config": {"instance_profile": False}})
    prov.run_instances(config)
    (node,) = instances(ec2, config.cluster_name_on_cloud)
    assert node["ImageId"] == ami and "IamInstanceProfile" not in node
    prov.terminate_instances(config.cluster_name_on_cloud, None)


def test_gpu_type_boots_a_deep_learning_image(
    aws: str, ec2: Any, prov: AwsProvisioner, ssh_public_key: str
) -> None:
    config = make_config("gpu", ssh_public_key, instance_type="g5.xlarge", accelerators={"A10G": 1})
    prov.run_instances(config)
    (node,) = instances(ec2, config.cluster_name_on_cloud)
    image = ec2.describe_images(ImageIds=[node["ImageId"]])["Images"][0]
    assert "Deep Learning" in image["Name"]
    prov.terminate_instances(config.cluster_name_on_cloud, None)


def _fields(config: ProvisionConfig) -> dict[str, Any]:
    import attrs

    return attrs.asdict(config, recurse=False)


def test_status_refresh_marks_a_preempted_cluster(
    aws: str, ec2: Any, prov: AwsProvisioner, ssh_public_key: str, stix_home: Any
) -> None:
    from stix.provision.refresh import refresh
    from stix.state.clusters import ClusterRecord, ClusterStore

    config = make_config("spotty", ssh_public_key, count=2, use_spot=True)
    prov.run_instances(config)
    store = ClusterStore()
    record = ClusterRecord(
        name="spotty",
        status="UP",
        cloud="aws",
        region="us-east-1",
        num_nodes=2,
        use_spot=True,
        handle={"cluster_name_on_cloud": config.cluster_name_on_cloud},
    )
    store.put(record)
    ranks = {
        tag_dict(n["Tags"])[TAG_RANK]: n["InstanceId"]
        for n in instances(ec2, config.cluster_name_on_cloud)
    }
    ec2.terminate_instances(InstanceIds=[ranks["1"]])  # preempted behind STIX's back
    refreshed = refresh(record, store)
    assert refreshed is not None and refreshed.status == "INIT"
    assert store.get("spotty").status == "INIT"

    ec2.terminate_instances(InstanceIds=[ranks["0"]])  # the whole cluster is gone
    assert refresh(store.get("spotty"), store) is None and store.get("spotty") is None
    # no explicit terminate: refresh itself released the security group and key pair,
    # which the `aws` fixture checks are gone.


def test_cluster_key_is_made_imported_and_removed(
    aws: str, ec2: Any, prov: AwsProvisioner, stix_home: Any
) -> None:
    config = ProvisionConfig(
        cluster_name="keyed",
        cluster_name_on_cloud="keyed-9f9f",
        count=1,
        resources=Resources(cloud="aws", instance_type="m6i.large"),
        region="us-east-1",
    )
    prov.run_instances(config)
    info = prov.get_cluster_info("keyed-9f9f", "us-east-1")
    private = info.provider_config["ssh_private_key"]
    assert private and private.startswith(str(stix_home)) and os.path.exists(private)
    assert info.provider_config["cluster_name"] == "keyed"
    (pair,) = ec2.describe_key_pairs(KeyNames=["stix-keyed-9f9f"])["KeyPairs"]
    assert pair["KeyName"] == "stix-keyed-9f9f"
    prov.terminate_instances("keyed-9f9f", "us-east-1")
    assert not os.path.exists(private) and not os.path.exists(private + ".pub")


def test_zone_ids_from_skypilot_catalogs_are_accepted(
    aws: str, ec2: Any, prov: AwsProvisioner, ssh_public_key: str
) -> None:
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    target = next(z for z in zones if z["ZoneName"] == "us-east-1b")
    config = make_config("zid", ssh_public_key)
    config = ProvisionConfig(**{**_fields(config), "zones": (target["ZoneId"],)})
    record = prov.run_instances(config)
    assert record.zone == "us-east-1b"
    prov.terminate_instances(config.cluster_name_on_cloud, None)


def test_waiting_for_up_notices_a_reclaimed_spot_node(
    aws: str, ec2: Any, prov: AwsProvisioner, ssh_public_key: str
) -> None:
    from stix.errors import NoCapacityError

    config = make_config("reclaim", ssh_public_key, count=2, use_spot=True)
    prov.run_instances(config)
    worker = next(
        n["InstanceId"]
        for n in instances(ec2, config.cluster_name_on_cloud)
        if tag_dict(n["Tags"])[TAG_RANK] == "1"
    )
    ec2.terminate_instances(InstanceIds=[worker])
    with pytest.raises(NoCapacityError, match=f"node {worker} .* was terminated while starting"):
        prov.wait_instances(config.cluster_name_on_cloud, None, "UP")
    prov.terminate_instances(config.cluster_name_on_cloud, None)


def test_list_clusters_looks_in_every_catalog_region(aws: str, ssh_public_key: str) -> None:
    import attrs

    east, west = make_config("lce", ssh_public_key), make_config("lcw", ssh_public_key)
    west = attrs.evolve(west, region="us-west-2", cluster_name_on_cloud="lcw-1a2b")
    provisioner = AwsProvisioner()
    for config in (east, west):
        provisioner.run_instances(provisioner.bootstrap(config))
    found = sorted(provisioner.list_clusters() or [], key=lambda e: e["region"])
    assert found == [
        {"cluster_name": "lce", "cluster_name_on_cloud": "lce-1a2b", "region": "us-east-1"},
        {"cluster_name": "lcw", "cluster_name_on_cloud": "lcw-1a2b", "region": "us-west-2"},
    ]
    for config in (east, west):
        provisioner.terminate_instances(config.cluster_name_on_cloud, config.region)
    assert provisioner.list_clusters() == []


def test_list_clusters_is_none_without_credentials(stix_home: Any) -> None:
    assert AwsProvisioner().list_clusters() is None  # AWS is not in use: recover passes it by
