"""SSH end-to-end tests run against real sshd nodes from the harness in ``tests/harness``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness.fixtures import ssh_harness, ssh_nodes

__all__ = ["ssh_harness", "ssh_nodes"]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own STIX_HOME and HOME (so ~/.ssh/config is a temp file)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("STIX_HOME", str(home / ".stix"))
    return home
