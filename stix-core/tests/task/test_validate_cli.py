"""``stix validate``: ok lines, one error line per bad file, exit codes, JSON shape."""

from __future__ import annotations

import json

from click.testing import CliRunner
from stix.cli.validate import validate


def run(*args: str):
    return CliRunner().invoke(validate, list(args))


def test_ok_and_errors_with_exit_code(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("resources:\n  cpus: 2+\nrun: echo hi\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nresources:\n  acelerators: V100\n")
    missing = tmp_path / "missing.yaml"
    result = run(str(good), str(bad), str(missing))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [f"ok: {good}"]
    assert result.stderr.splitlines() == [
        f"Error: {bad}:3: resources.acelerators: unknown field 'acelerators'; did you mean 'accelerators'?",
        f"Error: {missing}: file not found",
    ]


def test_env_and_secret_overrides(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("envs:\n  A:\nsecrets:\n  S:\nrun: x\n")
    assert run(str(path)).exit_code == 1
    result = run("--env", "A=1", "--secret", "S=2", str(path))
    assert result.exit_code == 0, result.stderr


def test_json_shape_redacts_secrets(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(
        "name: p\n---\nname: a\nsecrets:\n  K: hunter2\nresources:\n  gpus: V100\nrun: x\n"
    )
    result = run("--json", str(path))
    assert result.exit_code == 0, result.stderr
    assert "hunter2" not in result.stdout
    (entry,) = json.loads(result.stdout)
    assert entry == {
        "file": str(path),
        "ok": True,
        "name": "p",
        "execution": "serial",
        "tasks": [
            {
                "name": "a",
                "resources": {"accelerators": "V100:1"},
                "secrets": {"K": "<redacted>"},
                "run": "x",
            }
        ],
    }


def test_json_reports_errors(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("num_nodes: 0\n")
    result = run("--json", str(path))
    assert result.exit_code == 1
    (entry,) = json.loads(result.stdout)
    assert entry["ok"] is False
    assert entry["error"] == {
        "message": "num_nodes must be an integer >= 1, got 0",
        "field": "num_nodes",
        "line": 1,
    }
