"""Developer sessions. `nox` runs lint, typecheck and tests; `nox -s startup` checks the start-up budget.

Every session installs the distributions from this working tree into its own venv.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True

REPO = Path(__file__).parent
DISTRIBUTIONS = sorted(p.parent.name for p in REPO.glob("stix-*/pyproject.toml"))
TEST_TOOLS = ["pytest>=8", "hypothesis>=6.100", "pytest-xdist>=3.5"]


def install_distributions(session: nox.Session) -> None:
    """Editable installs of every distribution (core first) with their test extras."""
    ordered = sorted(DISTRIBUTIONS, key=lambda name: name != "stix-core")
    session.install(*(f"-e{REPO / name}[test]" for name in ordered))


@nox.session
def tests(session: nox.Session) -> None:
    """Unit, integration, meta and end-to-end tests of every distribution."""
    # Compile at install time: with PYTHONDONTWRITEBYTECODE set (as on CI machines) the cloud
    # SDKs (google-cloud-compute, azure-mgmt-*) would otherwise be compiled again on every import.
    session.env["UV_COMPILE_BYTECODE"] = "1"
    install_distributions(session)
    session.install(*TEST_TOOLS)
    session.run("pytest", *(session.posargs or ["-n", "2", "--dist", "loadfile"]))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy over every distribution's sources."""
    install_distributions(session)
    session.install("mypy>=1.10", "types-PyYAML")
    session.run("mypy")


def _median_seconds(argv: list[str], env: dict[str, str], runs: int = 9) -> float:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)  # warm caches
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@nox.session
def startup(session: nox.Session) -> None:
    """Fail when `stix --help` takes more than 3x `python -c pass` with every plugin installed."""
    session.env["UV_COMPILE_BYTECODE"] = "1"  # as pip does for users: no compile on first import
    install_distributions(session)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["STIX_HOME"] = tempfile.mkdtemp(prefix="stix-startup-")
    python = str(Path(session.bin) / "python")
    stix = str(Path(session.bin) / "stix")
    base = _median_seconds([python, "-c", "pass"], env)
    for args in (["--help"], ["--version"], ["plugins"]):
        took = _median_seconds([stix, *args], env)
        session.log(
            f"stix {' '.join(args)}: {took * 1000:.0f} ms "
            f"(python -c pass: {base * 1000:.0f} ms, {took / base:.1f}x)"
        )
        if args == ["--help"] and took > 3 * base:
            session.error(f"stix --help took {took / base:.1f}x python -c pass (budget 3x)")


@nox.session
def bench(session: nox.Session) -> None:
    """Run every benchmark in benchmarks/ and print their tables."""
    install_distributions(session)
    for script in sorted((REPO / "benchmarks").glob("*.py")):
        session.run("python", str(script), *session.posargs)
