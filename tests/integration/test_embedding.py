"""Programs can embed STIX: `import stix` is cheap and exposes the public API lazily."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import stix

REPO = Path(__file__).resolve().parents[2]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {m.split(".")[0] for m in json.loads(out.splitlines()[-1])}


def test_import_does_no_work() -> None:
    loaded = _modules_after("import stix")
    assert not loaded & {"click", "pluggy", "attrs", "attr", "cattrs", "yaml", "sqlite_utils"}


def test_public_names_resolve() -> None:
    for name in ("Task", "Resources", "Dag", "load_task", "load_dag", "get_registry", "hookimpl"):
        assert getattr(stix, name) is not None
    assert set(stix.__all__) <= set(dir(stix))


def test_load_and_inspect_a_task() -> None:
    task = stix.load_task(REPO / "examples" / "minimal.yaml")
    assert isinstance(task, stix.Task)
    assert task.name == "minimal"
    assert task.resources[0].cpus == "1+"
    dag = stix.load_dag(REPO / "examples" / "minimal.yaml")
    assert isinstance(dag, stix.Dag) and dag.tasks == [task]


def test_registry_from_the_library() -> None:
    registry = stix.get_registry()
    assert "local" in registry.clouds()


def test_unknown_attribute() -> None:
    try:
        stix.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
