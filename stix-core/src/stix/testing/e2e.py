"""Helpers for end-to-end tests that drive the real ``stix`` CLI in a subprocess.

For plugin authors' tests against a fake cloud: :func:`run_stix` runs
``python -m stix ...`` with the test's environment (``$STIX_HOME``, API URLs,
keys set through ``monkeypatch``), :func:`write_task` writes a task YAML and
:func:`cluster_status` reads one cluster's refreshed status.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_stix(
    *args: str, check: bool = True, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """Run ``stix ARGS`` in a subprocess with the current environment.

    :param check: fail the test (with both output streams) when the exit code is not 0.
    :param timeout: seconds before the command is killed.
    """
    proc = subprocess.run(
        [sys.executable, "-m", "stix", *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"stix {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def write_task(folder: Path, filename: str = "task.yaml", **doc: Any) -> str:
    """Write ``doc`` as a task YAML in ``folder`` and return its path."""
    import yaml

    path = Path(folder) / filename
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def cluster_status(cluster: str) -> str:
    """The status of ``cluster`` after ``stix status --refresh``."""
    rows = json.loads(run_stix("status", "--refresh", "--json", cluster).stdout)
    (row,) = rows if isinstance(rows, list) else rows["clusters"]
    return str(row["status"])


__all__ = ["cluster_status", "run_stix", "write_task"]
