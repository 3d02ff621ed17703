"""pytest fixtures shared by the core's tests and by plugin authors' tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest


@pytest.fixture
def stix_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty ``$STIX_HOME`` (and no user or project config) for one test."""
    home = tmp_path / "stix-home"
    home.mkdir()
    monkeypatch.setenv("STIX_HOME", str(home))
    monkeypatch.setenv("STIX_CONFIG", str(home / "config.yaml"))
    monkeypatch.setenv("STIX_PROJECT_CONFIG", str(home / "no-project.yaml"))
    return home


@pytest.fixture
def plugin_registry() -> Iterator[Any]:
    """A fresh registry of the installed plugins, used as the process-wide one."""
    from stix.plugins import Registry, reset_registry

    registry = Registry()
    reset_registry(registry)
    try:
        yield registry
    finally:
        reset_registry(None)


@pytest.fixture
def register_plugin(plugin_registry: Any) -> Iterator[Callable[..., None]]:
    """Register in-process plugins for one test; they are removed afterwards.

    Usage: ``register_plugin(module_or_object, name="myplugin")``.
    """
    names: list[str] = []

    def register(plugin: object, name: str) -> None:
        plugin_registry.register(plugin, name)
        names.append(name)

    yield register
    for name in names:
        plugin_registry.unregister(name)


@attrs.frozen
class CliResult:
    """Outcome of one in-process CLI run."""

    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(stix_home: Path) -> Callable[..., CliResult]:
    """Run ``stix ARGS...`` in process: ``cli("plugins", "--json")`` -> :class:`CliResult`."""
    from click.testing import CliRunner

    from stix.cli import main

    def run(*args: str, input: str | None = None) -> CliResult:
        runner = CliRunner()
        result = runner.invoke(
            _Main(main),  # type: ignore[arg-type]
            list(args),
            input=input,
            catch_exceptions=False,
        )
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run


class _Main:
    """Adapts ``stix.cli.main`` (which calls sys.exit) to what CliRunner invokes."""

    def __init__(self, main: Callable[[list[str]], Any]) -> None:
        self._main = main
        self.name = "stix"

    def main(self, args: list[str], prog_name: str | None = None, **_: Any) -> Any:
        return self._main(args)
