"""What the provisioner asks the API server for: pod resources, placement, pod_config, ports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from k8s_fakes import FakeKubeApi
from k8s_fakewire import write_config
from stix_k8s.manifests import merge


def test_pod_config_merges_named_items_and_the_container() -> None:
    base = {
        "spec": {
            "containers": [{"name": "stix", "image": "a", "env": [{"name": "X", "value": "1"}]}]
        }
    }
    over = {
        "spec": {
            "containers": [{"env": [{"name": "Y", "value": "2"}]}],
            "priorityClassName": "high",
        }
    }
    merged = merge(base, over)
    assert merged["spec"]["priorityClassName"] == "high"
    assert merged["spec"]["containers"][0]["env"] == [
        {"name": "X", "value": "1"},
        {"name": "Y", "value": "2"},
    ]
    assert base["spec"]["containers"][0]["env"] == [{"name": "X", "value": "1"}]


def test_launch_with_gpus_flag_requests_and_places_the_gpu(
    kube: FakeKubeApi, cli: Any, stix_home: Path, tmp_path: Path
) -> None:
    write_config(
        stix_home,
        "kubernetes:\n  ports: nodeport\n  image_pull_secrets: [regcred]\n"
        "  pod_config:\n    metadata: {annotations: {team: ml}}\n"
        "    spec: {containers: [{env: [{name: EXTRA, value: from-config}]}]}\n",
    )
    task = tmp_path / "task.yaml"
    task.write_text(
        "resources:\n  disk_size: 50\n  ports: 8080\n  labels: {owner: alice}\nrun: |\n"
        '  echo "extra=$EXTRA gpus=$SKYPILOT_NUM_GPUS_PER_NODE"\n'
    )
    launched = cli("launch", "-y", "-c", "g1", "--infra", "k8s", "--gpus", "H100:1", str(task))
    assert launched.exit_code == 0, launched.stderr
    assert "extra=from-config gpus=1" in launched.stdout
    try:
        (pod,) = kube.objects["pods"].values()
        spec = pod["spec"]
        container = spec["containers"][0]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert container["resources"]["requests"]["ephemeral-storage"] == "50Gi"
        assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]
        assert spec["nodeName"] == "gpu-h100-a"  # the only H100 node; its taint is tolerated
        assert spec["imagePullSecrets"] == [{"name": "regcred"}]
        assert pod["metadata"]["labels"]["owner"] == "alice"
        assert pod["metadata"]["annotations"] == {"team": "ml"}
        services = {s["metadata"]["name"]: s["spec"] for s in kube.objects["services"].values()}
        cluster = pod["metadata"]["labels"]["stix/cluster"]
        assert services[cluster]["clusterIP"] == "None"  # headless, for rank discovery
        ports = next(s for n, s in services.items() if n.endswith("-ports"))
        assert ports["type"] == "NodePort" and ports["ports"][0]["port"] == 8080
        # the running pod holds one of the two H100s: live capacity says so
        listed = cli("gpus", "list", "H100", "--infra", "k8s", "--json")
        assert json.loads(listed.stdout)[0]["free"] == 1
        stopped = cli("stop", "-y", "g1")
        assert stopped.exit_code != 0 and "kubernetes cannot stop" in stopped.stderr
    finally:
        assert cli("down", "-y", "g1").exit_code == 0


def test_ports_through_an_ingress(kube: FakeKubeApi, stix_home: Path) -> None:
    from stix.interfaces import ProvisionConfig
    from stix.task import Resources
    from stix_k8s.provisioner import KubernetesProvisioner

    write_config(stix_home, "kubernetes:\n  ports: ingress\n  ingress_class: nginx\n")
    prov = KubernetesProvisioner()
    config = ProvisionConfig(
        cluster_name="web", cluster_name_on_cloud="web-1", count=1,
        resources=Resources.from_yaml_config({"cpus": 1}), region="fake", ports=("8000-8001",),
    )  # fmt: skip
    prov.run_instances(config)
    try:
        prov.wait_instances("web-1", "fake", "UP")
        prov.open_ports("web-1", "fake", ("8000-8001",))
        (ingress,) = kube.objects["ingresses"].values()
        assert ingress["spec"]["ingressClassName"] == "nginx"
        paths = ingress["spec"]["rules"][0]["http"]["paths"]
        assert [(p["path"], p["backend"]["service"]["port"]["number"]) for p in paths] == [
            ("/web-1/8000", 8000), ("/web-1/8001", 8001),
        ]  # fmt: skip
        service = next(
            s for s in kube.objects["services"].values() if s["metadata"]["name"] == "web-1-ports"
        )
        assert service["spec"]["type"] == "ClusterIP"
    finally:
        prov.terminate_instances("web-1", "fake")
    assert kube.names("ingresses") == []


def test_a_private_image_gets_a_pull_secret_of_its_own_removed_by_down(
    kube: FakeKubeApi, cli: Any, stix_home: Path, tmp_path: Path
) -> None:
    import base64

    write_config(stix_home, "kubernetes:\n  image_pull_secrets: [regcred]\n")
    password = "pw-for-the-registry-5"
    task = tmp_path / "task.yaml"
    task.write_text(
        "resources:\n  image_id: docker:registry.example.com/team/app:2\n"
        "envs: {SKYPILOT_DOCKER_USERNAME: team, SKYPILOT_DOCKER_SERVER: registry.example.com}\n"
        f"secrets: {{SKYPILOT_DOCKER_PASSWORD: {password}}}\nrun: echo pulled\n"
    )
    launched = cli("launch", "-y", "-c", "priv", "--infra", "k8s", str(task))
    assert launched.exit_code == 0, launched.stderr
    assert "pulled" in launched.stdout and password not in launched.stdout + launched.stderr
    try:
        (pod,) = kube.objects["pods"].values()
        (secret,) = kube.objects["secrets"].values()
        name = secret["metadata"]["name"]
        assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}, {"name": name}]
        assert secret["type"] == "kubernetes.io/dockerconfigjson"
        config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
        entry = config["auths"]["registry.example.com"]
        assert (entry["username"], entry["password"]) == ("team", password)
        assert base64.b64decode(entry["auth"]).decode() == f"team:{password}"
        assert secret["metadata"]["ownerReferences"][0]["name"] == pod["metadata"]["name"]
    finally:
        assert cli("down", "-y", "priv").exit_code == 0
    assert not kube.objects["secrets"] and not kube.objects["pods"]
