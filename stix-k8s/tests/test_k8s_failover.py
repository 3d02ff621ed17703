"""Unschedulable pods become capacity errors within the configured wait, so failover moves
on; an image that cannot be pulled stops at once with the image's name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from k8s_fakes import NODES, FakeKubeApi
from k8s_fakewire import write_config, write_kubeconfig
from stix.errors import NoCapacityError

TASK = """\
name: fo
resources:
  infra: k8s
  accelerators: A100:1
run: echo "ran on $STIX_K8S_POD"
"""


@pytest.fixture
def spare(
    tmp_path: Path, kube: FakeKubeApi, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeKubeApi]:
    """A second cluster with an A100 node, as context ``spare``; ``kube`` is context ``busy``."""
    from stix_k8s import contexts

    other = FakeKubeApi(
        tmp_path / "spare-pods",
        [
            {
                "name": "a100",
                "cpu": 8,
                "memory": 32,
                "gpus": 1,
                "labels": {"nvidia.com/gpu.product": "A100-SXM4-40GB"},
            }
        ],
    )
    other.start()
    path = write_kubeconfig(
        tmp_path / "two-contexts",
        [kube.context_entry("busy"), other.context_entry("spare")],
        "busy",
    )
    monkeypatch.setenv("KUBECONFIG", str(path))
    contexts.reset_clients()
    try:
        yield other
        assert other.names("pods") == [] and other.names("services") == []
    finally:
        other.stop()


def test_unschedulable_pods_fail_over_to_the_next_context(
    kube: FakeKubeApi, spare: FakeKubeApi, cli: Any, stix_home: Path, tmp_path: Path
) -> None:
    # "busy" says an autoscaler can add A100 nodes, but none ever comes
    write_config(
        stix_home,
        "kubernetes:\n  allowed_contexts: [busy, spare]\n  provision_timeout: 3\n"
        "  context_configs:\n    busy:\n      autoscaling_pools: [{cpus: 8, memory: 32, accelerator: 'A100:1'}]\n",
    )
    task = tmp_path / "task.yaml"
    task.write_text(TASK)
    launched = cli("launch", "-y", "-c", "fo", str(task))
    assert launched.exit_code == 0, launched.stderr + launched.stdout
    assert "ran on fo-" in launched.stdout
    # "busy" got the pod first; it stayed unschedulable, was removed, and "spare" ran it
    assert ("POST", "/api/v1/namespaces/default/pods") in kube.calls
    assert kube.names("pods") == [] and len(spare.names("pods")) == 1
    events = [e for e in kube.objects["events"].values() if e["reason"] == "FailedScheduling"]
    assert events and events[0]["message"].startswith("0/3 nodes are available")
    # the scheduler's verdict was read from the events API
    assert ("GET", "/api/v1/namespaces/default/events") in kube.calls
    assert cli("down", "-y", "fo").exit_code == 0


def test_unschedulable_within_the_wait_is_a_capacity_error(
    kube: FakeKubeApi, stix_home: Path
) -> None:
    from stix.interfaces import ProvisionConfig
    from stix.task import Resources
    from stix_k8s.provisioner import KubernetesProvisioner

    write_config(stix_home, "kubernetes:\n  provision_timeout: 2\n")
    prov = KubernetesProvisioner()
    config = ProvisionConfig(
        cluster_name="big", cluster_name_on_cloud="big-1", count=1,
        resources=Resources.from_yaml_config({"cpus": 12, "memory": 8}), region="fake",
    )  # fmt: skip
    prov.run_instances(config)
    try:
        with pytest.raises(NoCapacityError, match="0/3 nodes are available") as caught:
            prov.wait_instances("big-1", "fake", "UP")
        assert "Insufficient cpu" in caught.value.message
    finally:
        prov.terminate_instances("big-1", "fake")


def test_an_unpullable_image_stops_with_its_name(
    kube: FakeKubeApi, cli: Any, tmp_path: Path
) -> None:
    kube.unpullable.add("registry.example/missing:1")
    task = tmp_path / "task.yaml"
    task.write_text(
        "resources:\n  infra: k8s\n  image_id: docker:registry.example/missing:1\nrun: echo hi\n"
    )
    launched = cli("launch", "-y", "-c", "img", str(task))
    assert launched.exit_code != 0
    assert "registry.example/missing:1" in launched.stderr
    assert "cannot be pulled" in launched.stderr
    assert kube.names("pods") == []


assert NODES  # the default nodes have no A100: only "spare" can hold the task
