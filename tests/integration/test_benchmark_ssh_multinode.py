"""``benchmarks/ssh_multinode.py`` says what to install when sshd is missing, and runs
``stix`` through its own interpreter rather than whatever ``PATH`` finds."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ssh_multinode.py"


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("bench_ssh_multinode", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_missing_sshd_is_one_line_naming_the_package(monkeypatch, tmp_path) -> None:
    bench = _load_benchmark()
    monkeypatch.setattr(sys.modules[bench.SshNodes.__module__], "SSHD", str(tmp_path / "sshd"))
    monkeypatch.setattr(sys, "argv", ["ssh_multinode.py", "--sizes", "1", "--repeat", "1"])
    with pytest.raises(SystemExit) as info:
        bench.main()
    message = str(info.value.code)
    assert "openssh-server" in message
    assert "\n" not in message


@pytest.mark.slow
@pytest.mark.skipif(
    os.geteuid() != 0 or not Path("/usr/sbin/sshd").exists(), reason="needs root and sshd"
)
def test_runs_without_stix_on_path(tmp_path) -> None:
    env = dict(os.environ, PATH="/usr/bin:/bin:/usr/sbin:/sbin")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--sizes", "1", "--repeat", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| 1 |" in proc.stdout
    assert "Traceback" not in proc.stderr
