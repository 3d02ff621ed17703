"""The CLI frame: version, help, plugins, check, completion, the error boundary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from stix import __version__
from stix.cli import _COMMANDS
from stix.cli import cli as root


def test_version(cli) -> None:
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"stix {__version__}"


def test_help_lists_core_commands(cli) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for name in ("check", "plugins", "validate", "completion"):
        assert f"  {name}" in result.stdout


def _command_paths() -> list[tuple[str, ...]]:
    """Every core command, and every subcommand of core groups (``gpus list``...)."""
    paths: list[tuple[str, ...]] = []

    def walk(command: click.Command, path: tuple[str, ...]) -> None:
        paths.append(path)
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    walk(sub, (*path, name))

    ctx = click.Context(root)
    for name in sorted(_COMMANDS):
        command = root.get_command(ctx, name)
        assert command is not None, name
        walk(command, (name,))
    return paths


@pytest.mark.parametrize("path", _command_paths(), ids=" ".join)
def test_every_command_has_help_with_an_example(cli, path: tuple[str, ...]) -> None:
    result = cli(*path, "--help")
    assert result.exit_code == 0, result.stderr
    assert "Example" in result.stdout, f"stix {' '.join(path)} --help shows no example"


def test_plugins_json(cli) -> None:
    result = cli("plugins", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    local = next(p for p in data if p["name"] == "local")
    assert local["distribution"] == "stix" and local["registers"]["clouds"] == ["local"]
    assert local["version"] == __version__


def test_plugins_table(cli) -> None:
    out = cli("plugins").stdout.splitlines()
    assert out[0].split() == ["NAME", "DISTRIBUTION", "VERSION", "REGISTERS", "STATUS"]
    assert any(line.startswith("local") and "built-in" in line for line in out)


def test_check_local(cli) -> None:
    result = cli("check", "local")
    assert result.exit_code == 0
    assert "local: enabled" in result.stdout
    data = json.loads(cli("check", "--json").stdout)
    assert data["local"]["ok"] is True


def test_check_unknown_cloud_is_one_line(cli) -> None:
    result = cli("check", "nosuchcloud")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith("Error: unknown cloud 'nosuchcloud'")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script(cli, shell: str) -> None:
    result = cli("completion", shell)
    assert result.exit_code == 0
    assert "_STIX_COMPLETE" in result.stdout


def test_completion_completes_commands(stix_home: Path) -> None:
    env = {"_STIX_COMPLETE": "bash_complete", "COMP_WORDS": "stix pl", "COMP_CWORD": "1"}
    import os

    out = subprocess.run(
        [sys.executable, "-m", "stix"], env={**os.environ, **env}, capture_output=True, text=True
    ).stdout
    assert "plugins" in out


def test_unknown_command_is_a_usage_error(cli) -> None:
    result = cli("no-such-command")
    assert result.exit_code == 2
    assert "No such command" in result.stderr


def test_unexpected_error_writes_crash_log(cli, stix_home: Path) -> None:
    @click.command("boom")
    def boom() -> None:
        """Fail on purpose."""
        raise RuntimeError("kaboom")

    root.add_command(boom)
    try:
        result = cli("boom")
    finally:
        root.commands.pop("boom")
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert line.startswith("Error: unexpected RuntimeError in ") and "kaboom" in line
    logs = list((stix_home / "logs").glob("crash-*.log"))
    assert len(logs) == 1 and "RuntimeError: kaboom" in logs[0].read_text()
    assert "Traceback" not in result.stderr


def test_secret_is_redacted_at_the_boundary(cli) -> None:
    from stix.errors import StixError
    from stix.redact import register_secret

    register_secret("hunter2-very-secret")

    @click.command("leak")
    def leak() -> None:
        """Fail with a secret in the message."""
        raise StixError("token hunter2-very-secret rejected")

    root.add_command(leak)
    try:
        result = cli("leak")
    finally:
        root.commands.pop("leak")
    assert result.stderr.strip() == "Error: token <redacted> rejected"


def _stix(home: Path, *args: str) -> str:
    import os

    env = {**os.environ, "STIX_HOME": str(home), "COLUMNS": "100"}
    return subprocess.run(
        [sys.executable, "-m", "stix", *args], env=env, capture_output=True, text=True, check=True
    ).stdout


def test_help_cache_serves_the_same_text(stix_home: Path) -> None:
    first = _stix(stix_home, "--help")
    assert (stix_home / "cache" / "help.txt").is_file()
    assert _stix(stix_home, "--help") == first
    assert "Commands:" in first and "plugins" in first


def test_help_cache_misses_when_a_module_changes(stix_home: Path) -> None:
    import os

    _stix(stix_home, "--help")
    cache = stix_home / "cache" / "help.txt"
    tag, key, count, *rest = cache.read_text().split("\n")
    watched = rest[: int(count)]
    cache.write_text("\n".join([tag, key, count, *watched, "STALE"]))
    assert _stix(stix_home, "--help").strip() == "STALE"  # served from the cache
    line = next(i for i, w in enumerate(watched) if w.endswith("hookspecs.py"))
    mtime, path = watched[line].split(" ", 1)
    watched[line] = f"{int(mtime) - 1} {path}"  # as if the file had been edited since
    cache.write_text("\n".join([tag, key, count, *watched, "STALE"]))
    assert "Commands:" in _stix(stix_home, "--help")
    assert os.environ.get("STIX_NO_HELP_CACHE") is None


def test_help_cache_ignores_a_damaged_file(stix_home: Path) -> None:
    _stix(stix_home, "--help")
    cache = stix_home / "cache" / "help.txt"
    for damaged in ("", "garbage", "stix-help-cache 2\nkey\nnot-a-number\n", "\x00\xff"):
        cache.write_bytes(damaged.encode("latin-1"))
        assert "Commands:" in _stix(stix_home, "--help")


def test_version_fast_path(stix_home: Path) -> None:
    assert _stix(stix_home, "--version").strip() == f"stix {__version__}"


def test_status_names_clusters_that_do_not_exist(cli) -> None:
    result = cli("status", "nope", "dev*")
    assert result.exit_code == 0
    assert "Cluster(s) not found: nope, dev*." in result.stderr
