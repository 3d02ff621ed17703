"""``stix launch --dryrun`` and the shared task options, on the small catalog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from stix.cli.task_options import apply_overrides, load_entrypoint
from stix.errors import StixError, TaskError
from stix.task import Task


@pytest.fixture
def yaml_file(tmp_path: Path) -> Path:
    path = tmp_path / "train.yaml"
    path.write_text("name: train\nresources:\n  accelerators: A100:8\nrun: echo hi\n")
    return path


def test_table_marks_the_chosen_row_and_plugins_to_install(
    cli: Any, registry: Any, small_home: Path, yaml_file: Path
) -> None:
    result = cli("launch", "--dryrun", str(yaml_file))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Considered resources (1 node):"
    assert lines[1].split()[:7] == [
        "INFRA",
        "INSTANCE",
        "vCPUs",
        "Mem(GB)",
        "GPUS",
        "COST",
        "($/hr)",
    ]
    chosen = [line for line in lines if "\u2714" in line]
    assert len(chosen) == 1 and chosen[0].startswith("alpha/r2/r2-a") and "23.00" in chosen[0]
    assert any("gcp" in line and "pip install stix-gcp" in line for line in lines)
    assert lines[-1] == "Estimated cost: $23.00/hr"
    assert "\x1b[" not in result.stdout  # no colour off a terminal


def test_json_plan(cli: Any, registry: Any, small_home: Path, yaml_file: Path) -> None:
    result = cli("launch", "--dryrun", "--json", "--gpus", "A100:1", "--use-spot", str(yaml_file))
    plan = json.loads(result.stdout)
    task = plan["tasks"][0]
    assert {
        k: task[k] for k in ("name", "num_nodes", "cloud", "zone", "instance_type", "use_spot")
    } == {
        "name": "train",
        "num_nodes": 1,
        "cloud": "alpha",
        "zone": "r1-a",
        "instance_type": "a-gpu-a100-1",
        "use_spot": True,
    }
    assert task["accelerators"] == {"A100": 1} and task["hourly_cost"] == 1.0
    assert isinstance(task["failover"], list)


def test_overrides_from_flags(cli: Any, registry: Any, small_home: Path) -> None:
    result = cli("launch", "--dryrun", "--json", "--cpus", "4", "--infra", "alpha/r2", "echo", "hi")
    task = json.loads(result.stdout)["tasks"][0]
    assert (task["region"], task["instance_type"], task["hourly_cost"]) == ("r2", "a-cpu-4", 0.25)
    args = ("--infra", "alpha", "--num-nodes", "2", "-n", "other", "echo", "hi")
    task = json.loads(cli("launch", "--dryrun", "--json", *args).stdout)["tasks"][0]
    assert (task["name"], task["num_nodes"], task["cloud"]) == ("other", 2, "alpha")


def test_pipeline_shows_one_section_per_task(
    cli: Any, registry: Any, small_home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "pipe.yaml"
    path.write_text(
        "name: pipe\n---\nname: prep\nresources:\n  cpus: 4\nrun: echo a\n"
        "---\nname: train\nresources:\n  accelerators: H100:8\nrun: echo b\n"
    )
    result = cli("launch", "--dryrun", str(path))
    assert result.exit_code == 0, result.stderr
    assert "Task 0 (prep): considered resources (1 node):" in result.stdout
    assert "Task 1 (train): considered resources (1 node):" in result.stdout
    assert "Estimated cost: $40.15/hr" in result.stdout
    best = result.stdout.split("Best plan:\n", 1)[1].splitlines()
    assert best[0].split() == ["TASK", "#NODES", "INFRA", "INSTANCE", "GPUS", "COST", "($/hr)"]
    assert best[1].split()[:2] == ["prep", "1"] and best[2].split()[:2] == ["train", "1"]
    assert "H100:8" in best[2]


def test_infeasible_request_is_one_error_line(
    cli: Any, registry: Any, small_home: Path, yaml_file: Path
) -> None:
    result = cli("launch", "--dryrun", "--gpus", "A100:16", str(yaml_file))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith(
        "Error: task 'train': no offer satisfies A100:16"
    )
    assert "the most any offer has is 8" in result.stderr
    assert "nearest feasible: a-gpu-a100-8 A100:8" in result.stderr


def test_missing_yaml_is_an_error_not_a_command(cli: Any, registry: Any, small_home: Path) -> None:
    result = cli("launch", "--dryrun", "nope.yaml")
    assert result.exit_code == 1 and "nope.yaml: file not found" in result.stderr


def test_apply_overrides_clears_candidate_fields(registry: object) -> None:
    task = Task.from_yaml_config(
        {
            "resources": {
                "infra": "alpha/r1",
                "any_of": [{"accelerators": "A100:1"}, {"accelerators": "V100:1"}],
            }
        }
    )
    changed = apply_overrides(task, {"gpus": "H100:8", "region": "none", "cpus": "8+"})
    assert {r.accelerator() for r in changed.resources} == {("H100", 8.0)}
    assert all(
        r.cloud == "alpha" and r.region is None and r.cpus == "8+" for r in changed.resources
    )
    assert apply_overrides(task, {}) is task


def test_entrypoint_env_files_and_inline_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "vars.env"
    env_file.write_text("# comment\nexport A=1\nB='two words'\n")
    monkeypatch.setenv("C", "from-shell")
    dag = load_entrypoint(
        ("python", "train.py"), {"env_file": str(env_file), "env": ("C", "D=4")}, yes=True
    )
    task = dag.tasks[0]
    assert task.run == "python train.py"
    assert task.envs == {"A": "1", "B": "two words", "C": "from-shell", "D": "4"}
    with pytest.raises(StixError, match="not set"):
        load_entrypoint(("echo",), {"env": ("NOT_SET_ANYWHERE_123",)}, yes=True)
    with pytest.raises(TaskError, match="file not found"):
        load_entrypoint(("missing.yaml",), {}, yes=True)
