"""``stix launch --infra k8s`` schedules pods on the fake API server, runs the job in them
through exec, streams its output, and ``stix down`` removes every object."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from k8s_fakes import FakeKubeApi

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

TASK = """\
name: ranks
num_nodes: 2
workdir: {workdir}
resources:
  infra: k8s
  accelerators: H100:1
run: |
  echo "rank $SKYPILOT_NODE_RANK of $SKYPILOT_NUM_NODES on $(hostname) home=$HOME"
  echo "ips: $(echo $SKYPILOT_NODE_IPS | tr '\\n' ' ')"
  echo "gpus: $CUDA_VISIBLE_DEVICES"
  echo "workdir: $(cat data/hello.txt) $(ls)"
"""


def test_two_pod_cluster_runs_a_job_that_sees_both_ranks(
    kube: FakeKubeApi, cli: Any, tmp_path: Path
) -> None:
    workdir = tmp_path / "wd"
    (workdir / "data").mkdir(parents=True)
    (workdir / "data" / "hello.txt").write_text("hello-from-workdir")
    (workdir / "skip.log").write_text("ignored")
    (workdir / ".gitignore").write_text("*.log\n")
    task = tmp_path / "task.yaml"
    task.write_text(TASK.format(workdir=workdir))
    launched = cli("launch", "-y", "-c", "kc", str(task))
    assert launched.exit_code == 0, launched.stderr + launched.stdout
    out = launched.stdout
    assert "rank 0 of 2" in out and "rank 1 of 2" in out, out
    pods = kube.names("pods")
    assert len(pods) == 2 and all(p.startswith("kc-") for p in pods)
    assert "ips: 127.0.1." in out
    # the workdir reached every pod as a tar stream over exec, minus ignored files
    assert out.count("workdir: hello-from-workdir data") == 2, out
    # rank 1 ran in its own pod, reached from the head pod through the exec API
    worker = next(line for line in out.splitlines() if "rank 1 of 2" in line)
    assert worker.rstrip().endswith(f"/{pods[1]}/home")
    assert ("GET", f"/api/v1/namespaces/default/pods/{pods[1]}/exec") in kube.calls
    down = cli("down", "-y", "kc")
    assert down.exit_code == 0, down.stderr
    for plural in ("pods", "services", "serviceaccounts", "roles", "rolebindings"):
        assert kube.names(plural) == [], plural


def test_autodown_from_the_head_removes_every_object(
    kube: FakeKubeApi, cli: Any, tmp_path: Path
) -> None:
    """The head's agent deletes its own pod with its service account (which may delete only
    that pod); the garbage collector removes the workers, services and RBAC objects it owns."""
    import time

    task = tmp_path / "task.yaml"
    task.write_text("num_nodes: 2\nresources:\n  infra: k8s\n  cpus: 1\nrun: echo hi\n")
    launched = cli("launch", "-y", "-c", "ad", str(task))
    assert launched.exit_code == 0, launched.stderr
    head = kube.names("pods")[0]
    assert len(kube.names("pods")) == 2 and head.endswith("-0")
    set_down = cli("autostop", "-y", "ad", "-i", "0", "--down")
    assert set_down.exit_code == 0, set_down.stderr
    deadline = time.monotonic() + 120
    kinds = ("pods", "services", "serviceaccounts", "roles", "rolebindings")
    while any(kube.names(k) for k in kinds) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not any(kube.names(k) for k in kinds), {k: kube.names(k) for k in kinds}
    # the head pod deleted itself with its own token, not the user's
    assert any(m == "DELETE" and p.endswith(f"/pods/{head}") for m, p in kube.calls)
    status = cli("status", "--refresh", "--json")
    assert status.exit_code == 0 and '"ad"' not in status.stdout


def test_state_recover_finds_the_labelled_pods_after_state_db_is_lost(
    kube: FakeKubeApi, cli: Any, tmp_path: Path
) -> None:
    from harness.recover import lose_state_and_recover

    task = tmp_path / "task.yaml"
    task.write_text("resources:\n  infra: k8s\n  cpus: 1\nrun: echo hi\n")
    assert cli("launch", "-y", "-c", "krec", str(task)).exit_code == 0
    record = lose_state_and_recover(cli, "krec")
    assert (record.status, record.cloud, record.region) == ("UP", "kubernetes", "fake")
    assert cli("down", "-y", "krec").exit_code == 0
    assert kube.names("pods") == []
