"""Every distribution builds a wheel and an sdist that install into a fresh venv,
and a third-party cloud plugin installed next to them is found with no core change."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DISTRIBUTIONS = sorted(p.parent for p in REPO.glob("stix-*/pyproject.toml"))

pytestmark = pytest.mark.slow

UV = shutil.which("uv")


def run(*argv: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, f"{argv} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if UV is None:
        pytest.skip("uv is not installed")
    out = tmp_path_factory.mktemp("wheelhouse")
    for dist in DISTRIBUTIONS:
        run(UV, "build", "--quiet", "--sdist", "--wheel", "--out-dir", out, dist)
    return out


@pytest.fixture(scope="module")
def venv(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("venv") / "env"
    run(UV, "venv", "--quiet", "--python", sys.executable, root)
    wheels = sorted(wheelhouse.glob("*.whl"))
    run(UV, "pip", "install", "--quiet", "--python", root / "bin" / "python", *wheels, "pytest")
    return root


def test_each_distribution_builds_wheel_and_sdist(wheelhouse: Path) -> None:
    for dist in DISTRIBUTIONS:
        name = dist.name.replace("-core", "").replace("-", "_")
        wheels = list(wheelhouse.glob(f"{name}-*.whl"))
        sdists = list(wheelhouse.glob(f"{name}-*.tar.gz"))
        assert wheels and sdists, (
            f"{dist.name}: missing wheel or sdist in {sorted(os.listdir(wheelhouse))}"
        )
        with tarfile.open(sdists[0]) as tar:
            assert any(m.name.endswith("/pyproject.toml") for m in tar.getmembers())


def test_installed_from_wheels(venv: Path, tmp_path: Path) -> None:
    env = {**os.environ, "STIX_HOME": str(tmp_path / "home")}
    stix = venv / "bin" / "stix"
    from stix import __version__

    assert run(stix, "--version", env=env).strip() == f"stix {__version__}"
    names = {p["name"] for p in json.loads(run(stix, "plugins", "--json", env=env))}
    assert "local" in names


PLUGIN_HOOKS = '''
"""Entry module of the Acme cloud: no SDK import here."""
from typing import ClassVar
import os

from stix import hookimpl
from stix.interfaces import CheckResult, Cloud


class AcmeCloud(Cloud):
    name: ClassVar[str] = "acme"
    features: ClassVar[frozenset[str]] = frozenset({"multi_node"})

    def check(self) -> CheckResult:
        if os.environ.get("ACME_TOKEN"):
            return CheckResult(True, "token from ACME_TOKEN")
        return CheckResult(False, "ACME_TOKEN is not set", hint="export ACME_TOKEN=...")


@hookimpl
def register_clouds(register):
    register(AcmeCloud)
'''

PLUGIN_CONFTEST = 'pytest_plugins = ["stix.testing"]\n'

PLUGIN_TEST = """
from stix.testing.contract import CloudContract


class TestAcme(CloudContract):
    cloud_name = "acme"
    entry_module = "stix_acme.hooks"
"""


def test_third_party_plugin_found_without_core_change(venv: Path, tmp_path: Path) -> None:
    src = tmp_path / "stix-acme"
    (src / "src" / "stix_acme").mkdir(parents=True)
    (src / "src" / "stix_acme" / "__init__.py").write_text('"""Acme cloud for STIX."""\n')
    (src / "src" / "stix_acme" / "hooks.py").write_text(PLUGIN_HOOKS)
    (src / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "stix-acme"
            version = "0.3.0"
            dependencies = ["stix"]

            [project.entry-points.stix]
            acme = "stix_acme.hooks"

            [tool.hatch.build.targets.wheel]
            packages = ["src/stix_acme"]
            """
        )
    )
    assert UV is not None
    run(UV, "pip", "install", "--quiet", "--no-deps", "--python", venv / "bin" / "python", src)
    env = {**os.environ, "STIX_HOME": str(tmp_path / "home")}
    env.pop("ACME_TOKEN", None)
    stix = venv / "bin" / "stix"
    plugins = {p["name"]: p for p in json.loads(run(stix, "plugins", "--json", env=env))}
    assert plugins["acme"]["distribution"] == "stix-acme"
    assert plugins["acme"]["version"] == "0.3.0"
    assert plugins["acme"]["registers"]["clouds"] == ["acme"]

    proc = subprocess.run([stix, "check", "acme"], capture_output=True, text=True, env=env)
    assert proc.returncode == 1
    assert "acme: disabled - ACME_TOKEN is not set" in proc.stdout
    assert "fix: export ACME_TOKEN=..." in proc.stdout
    env["ACME_TOKEN"] = "t0ken-value"
    assert "acme: enabled" in run(stix, "check", "acme", env=env)

    # The plugin runs the core's contract suite against itself.
    tests = src / "tests"
    tests.mkdir()
    (tests / "conftest.py").write_text(PLUGIN_CONFTEST)
    (tests / "test_contract.py").write_text(PLUGIN_TEST)
    proc = subprocess.run(
        [venv / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", tests],
        capture_output=True,
        text=True,
        env=env,
        cwd=src,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " passed" in proc.stdout


def test_broken_installed_plugin_is_reported_not_fatal(venv: Path, tmp_path: Path) -> None:
    src = tmp_path / "stix-broken"
    (src / "src" / "stix_broken").mkdir(parents=True)
    (src / "src" / "stix_broken" / "__init__.py").write_text('"""Broken on purpose."""\n')
    (src / "src" / "stix_broken" / "hooks.py").write_text("import no_such_sdk_module_xyz\n")
    (src / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "stix-broken"
            version = "0.0.1"

            [project.entry-points.stix]
            broken = "stix_broken.hooks"

            [tool.hatch.build.targets.wheel]
            packages = ["src/stix_broken"]
            """
        )
    )
    assert UV is not None
    python = venv / "bin" / "python"
    run(UV, "pip", "install", "--quiet", "--no-deps", "--python", python, src)
    try:
        env = {**os.environ, "STIX_HOME": str(tmp_path / "home")}
        stix = venv / "bin" / "stix"
        proc = subprocess.run(
            [stix, "plugins", "--json"], capture_output=True, text=True, env=env, check=True
        )
        broken = next(p for p in json.loads(proc.stdout) if p["name"] == "broken")
        assert broken["distribution"] == "stix-broken"
        assert "no_such_sdk_module_xyz" in broken["error"]
        assert "plugin broken (stix-broken 0.0.1) failed to load" in proc.stderr
        assert "Commands:" in run(stix, "--help", env=env)
        assert "local: enabled" in run(stix, "check", "local", env=env)
    finally:
        run(UV, "pip", "uninstall", "--quiet", "--python", python, "stix-broken")
