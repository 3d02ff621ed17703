"""``stix.testing.e2e``: the CLI in a subprocess, task files, and a failing command's report."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from stix.testing.e2e import run_stix, write_task


def test_run_stix_and_write_task(stix_home: Path, tmp_path: Path) -> None:
    path = write_task(tmp_path, filename="t.yaml", run="echo hi", resources={"cpus": "1+"})
    assert yaml.safe_load(Path(path).read_text()) == {"run": "echo hi", "resources": {"cpus": "1+"}}
    proc = run_stix("status", "--json")
    assert proc.returncode == 0


def test_a_failing_command_shows_both_streams(stix_home: Path) -> None:
    with pytest.raises(AssertionError, match=r"stix launch --nonsense exited 2:"):
        run_stix("launch", "--nonsense")
    assert run_stix("launch", "--nonsense", check=False).returncode == 2
