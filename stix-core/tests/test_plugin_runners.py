"""Plugin-provided runner kinds, cloud name aliases and live GPU listings."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any, ClassVar

import pytest
from stix.errors import ClusterError
from stix.hookspecs import hookimpl
from stix.interfaces import CheckResult, Cloud, Provisioner
from stix.runner.base import Runner, RunResult, runner_from_spec


class PodRunner(Runner):
    def __init__(self, pod: str) -> None:
        self.name = pod

    def run(self, argv: Any, **_: Any) -> RunResult:
        return RunResult(0, f"ran in {self.name}")

    def put(self, source: Path, dest: str) -> None:
        raise ClusterError("read-only")

    def sync(self, source: Path, dest: str, excludes: Any = ()) -> None:
        raise ClusterError("read-only")

    def node_spec(self) -> dict[str, Any]:
        return {"kind": "local"}

    def to_spec(self) -> dict[str, Any]:
        return {"kind": "kubernetes", "pod": self.name}


class PodProvisioner(Provisioner):
    name = "kubernetes"
    run_instances = wait_instances = get_cluster_info = None  # type: ignore[assignment]
    query_instances = stop_instances = terminate_instances = None  # type: ignore[assignment]

    def runner_from_spec(self, spec: dict[str, Any]) -> Any:
        return PodRunner(spec["pod"]) if "pod" in spec else None


class LiveCloud(Cloud):
    name: ClassVar[str] = "kubernetes"
    uses_catalog: ClassVar[bool] = False
    default_cpus: ClassVar[str] = "1+"

    def check(self) -> CheckResult:
        return CheckResult(True, "fine")

    def live_offers(self, resources: Any, num_nodes: int) -> list[Any]:
        from stix.catalog.offer import Offer

        return [
            Offer("kubernetes", "4CPU--16GB", 4, 16, 0.0, region="ctx",
                  note="an autoscaler must add the node first")
        ]  # fmt: skip

    def gpu_availability(self, region: str | None) -> list[dict[str, Any]]:
        return [{"accelerator": "H100", "free": 3, "total": 8, "max_per_node": 2, "nodes": 4,
                 "region": region or "ctx", "autoscaling": True}]  # fmt: skip


@pytest.fixture
def pods(register_plugin: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """An in-process ``kubernetes`` plugin; installed third-party plugins stay unloaded."""
    monkeypatch.setenv("STIX_PLUGINS", "")
    module = types.ModuleType("podplugin")
    module.register_provisioners = hookimpl(lambda register: register(PodProvisioner))  # type: ignore[attr-defined]
    module.register_clouds = hookimpl(lambda register: register(LiveCloud))  # type: ignore[attr-defined]
    register_plugin(module, "podplugin")


def test_a_runner_of_a_plugin_kind_is_rebuilt_by_its_provisioner(pods: None) -> None:
    runner = runner_from_spec({"kind": "kubernetes", "pod": "c-0"})
    assert runner.run("true").stdout == "ran in c-0"
    with pytest.raises(ClusterError, match="no command runner of kind 'kubernetes'"):
        runner_from_spec({"kind": "kubernetes"})
    with pytest.raises(ClusterError, match="no command runner of kind 'nosuch'"):
        runner_from_spec({"kind": "nosuch"})


def test_cloud_aliases_resolve_in_the_registry(pods: None, plugin_registry: Any) -> None:
    assert isinstance(plugin_registry.cloud("k8s"), LiveCloud)
    assert isinstance(plugin_registry.cloud("Kubernetes"), LiveCloud)


def test_gpus_list_of_a_live_cloud_shows_what_is_free(pods: None, cli: Any) -> None:
    result = cli("gpus", "list", "--infra", "k8s/ctx-a")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["GPU", "FREE", "TOTAL", "MAX_FREE_PER_NODE", "NODES", "REGION"]
    assert lines[1].split() == ["H100", "3", "8", "2", "4", "ctx-a"]
    assert "autoscaling node pools can add: H100" in result.stdout
    rows = json.loads(cli("gpus", "list", "H100", "--infra", "k8s", "--json").stdout)
    assert rows[0]["free"] == 3
    missing = cli("gpus", "list", "A100", "--infra", "k8s")
    assert missing.exit_code != 0 and "no GPUs on kubernetes right now named A100" in missing.stderr


def test_an_offer_note_shows_in_the_plan(pods: None, cli: Any, tmp_path: Path) -> None:
    task = tmp_path / "task.yaml"
    task.write_text("resources:\n  infra: k8s\nrun: echo hi\n")
    result = cli("launch", "--dryrun", str(task))
    assert result.exit_code == 0, result.stderr
    header, row = result.stdout.splitlines()[1:3]
    assert header.split()[-1] == "NOTE"
    assert row.startswith("kubernetes/ctx") and row.endswith(
        "an autoscaler must add the node first"
    )
