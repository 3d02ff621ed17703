"""The entry module is cheap: registering the command group loads no HTTP stack."""

from __future__ import annotations

import json
import subprocess
import sys


def test_entry_module_and_command_registration_import_no_aiohttp() -> None:
    code = (
        "import json, sys, click\n"
        "from stix_serve import hooks\n"
        "group = click.Group()\n"
        "hooks.register_commands(cli=group)\n"
        "print(json.dumps({'commands': sorted(group.commands['serve'].commands),"
        " 'modules': sorted(sys.modules)}))\n"
    )
    out = json.loads(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
    )
    assert out["commands"] == ["down", "logs", "status", "up", "update"]
    loaded = {name.split(".")[0] for name in out["modules"]}
    assert "aiohttp" not in loaded
    assert "stix_serve.manager" not in out["modules"]


def test_serve_is_a_stix_command(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("serve", "--help")
    assert result.exit_code == 0
    for command in ("up", "status", "update", "down", "logs"):
        assert command in result.stdout


def test_up_rejects_a_task_without_service(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    task = tmp_path / "plain.yaml"
    task.write_text("name: plain\nrun: echo hi\n")
    result = cli("serve", "up", "-y", str(task))
    assert result.exit_code == 1
    assert "no 'service:' section" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_example_service_loads_as_is() -> None:
    from pathlib import Path

    from stix.task import load_task
    from stix_serve.sdk import _service_payload

    example = Path(__file__).resolve().parents[2] / "examples" / "service.yaml"
    payload = _service_payload(load_task(str(example)))
    assert payload["spec"]["port"] == 8080
    assert payload["spec"]["service"]["replica_policy"] == {"min_replicas": 2}
    assert "service" not in payload["task"]  # replicas run the task without it


def test_a_service_needs_one_replica_port(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest
    from stix.task import load_task
    from stix_serve.sdk import ServeError, _service_payload

    task = tmp_path / "s.yaml"
    task.write_text("service:\n  readiness_probe: /\nresources:\n  ports: [8080, 8081]\nrun: x\n")
    with pytest.raises(ServeError, match="exactly one"):
        _service_payload(load_task(str(task)))
