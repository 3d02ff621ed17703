"""Offers and ``stix gpus list`` come from the fake cluster's nodes, live."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from k8s_fakes import FakeKubeApi
from k8s_fakewire import write_config
from stix.task import Resources
from stix_k8s.capacity import canonical_gpu
from stix_k8s.hooks import KubernetesCloud


def test_gpu_label_values_become_accelerator_names() -> None:
    assert canonical_gpu("NVIDIA-H100-80GB-HBM3") == "H100"
    assert canonical_gpu("nvidia-tesla-a100") == "A100"
    assert canonical_gpu("NVIDIA-A100-SXM4-80GB") == "A100-80GB"
    assert canonical_gpu("nvidia-l4") == "L4"
    assert canonical_gpu("a10g") == "A10G"


def test_offers_follow_node_labels_and_free_capacity(kube: FakeKubeApi) -> None:
    cloud = KubernetesCloud()
    h100 = cloud.live_offers(Resources.from_yaml_config({"accelerators": "H100:1"}), 1)
    assert [(o.region, o.accelerator_name, o.accelerator_count, o.price) for o in h100] == [
        ("fake", "H100", 1, 0.0)
    ]
    assert h100[0].instance_type == "1CPU--2GB--H100:1"
    # two H100s exist on one node: three pods of one GPU each do not fit
    assert cloud.live_offers(Resources.from_yaml_config({"accelerators": "H100:1"}), 3) == []
    l4 = cloud.live_offers(Resources.from_yaml_config({"accelerators": "L4:1", "cpus": 4}), 1)
    assert l4 and l4[0].vcpus == 4
    assert cloud.live_offers(Resources.from_yaml_config({"accelerators": "A100:1"}), 1) == []
    assert cloud.live_offers(Resources.from_yaml_config({"cpus": 64}), 1) == []


def test_configured_label_rate_and_autoscaling_pools(kube: FakeKubeApi, stix_home: Any) -> None:
    kube.nodes.append({"name": "odd", "cpu": 8, "memory": 32, "gpus": 4,
                       "labels": {"example.com/gpu-model": "B200"}})  # fmt: skip
    write_config(
        stix_home,
        "kubernetes:\n  gpu_label: example.com/gpu-model\n"
        "  pricing: {cpu: 0.01, gpus: {B200: 2.5}}\n"
        "  autoscaling_pools:\n    - {cpus: 96, memory: 1024, accelerator: 'A100:8'}\n",
    )
    cloud = KubernetesCloud()
    b200 = cloud.live_offers(Resources.from_yaml_config({"accelerators": "B200:2", "cpus": 2}), 1)
    assert [(o.accelerator_name, o.price) for o in b200] == [("B200", 5.02)]
    # no A100 node exists, but the autoscaler can add one; the offer says so
    (a100,) = cloud.live_offers(Resources.from_yaml_config({"accelerators": "A100:4"}), 2)
    assert a100.note == "0 of 2 pods fit now; an autoscaling pool must add nodes"
    assert b200[0].note is None


def test_gpus_list_shows_free_and_total(kube: FakeKubeApi, cli: Any) -> None:
    result = cli("gpus", "list", "--infra", "k8s", "--json")
    assert result.exit_code == 0, result.stderr
    rows = {r["accelerator"]: r for r in json.loads(result.stdout)}
    assert (rows["H100"]["free"], rows["H100"]["total"]) == (2, 2)
    assert (rows["L4"]["free"], rows["L4"]["total"]) == (1, 1)
    text = cli("gpus", "list", "--infra", "kubernetes/fake")
    assert text.exit_code == 0, text.stderr
    assert "H100" in text.stdout and "FREE" in text.stdout


def test_karpenter_label_names_the_gpu() -> None:
    from stix_k8s.capacity import gpu_type

    assert gpu_type({"karpenter.k8s.aws/instance-gpu-name": "a10g"}, None) == "A10G"
    assert gpu_type({"other": "x"}, None) is None


def test_in_cluster_config_when_running_in_a_pod(
    kube: FakeKubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No kubeconfig, but a service account: the pseudo-context ``in-cluster`` is used."""
    import shutil

    from k8s_fakes import ADMIN_TOKEN
    from stix_k8s import contexts

    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text(ADMIN_TOKEN)
    (sa / "namespace").write_text("default")
    assert kube.ca_file is not None
    shutil.copy(kube.ca_file, sa / "ca.crt")
    monkeypatch.setattr(contexts, "SA_DIR", str(sa))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", kube.url.rsplit(":", 1)[1])
    contexts.reset_clients()
    assert contexts.allowed_contexts() == ["in-cluster"]
    offers = KubernetesCloud().live_offers(Resources.from_yaml_config({"accelerators": "L4:1"}), 1)
    assert [(o.region, o.accelerator_name) for o in offers] == [("in-cluster", "L4")]
