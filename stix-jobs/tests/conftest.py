"""Fixtures for the managed-jobs tests: a STIX home with fast controller timings, cleaned after.

Everything is real: the controller is a local-cloud cluster running the controller process
as a job, and every managed job gets real local sandbox clusters with their own agents.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from jobs_helpers import cleanup

FAST = {
    "jobs": {
        "poll_seconds": 0.5,
        "tick_seconds": 0.5,
        "launch_backoff_seconds": 1,
        "log_sync_seconds": 1,
        "controller": {"idle_minutes": 5},
    }
}


@pytest.fixture
def jobs_home(stix_home: Path) -> Iterator[Path]:
    """A fresh ``$STIX_HOME`` whose config makes the controller poll every half second."""
    (stix_home / "config.yaml").write_text(yaml.safe_dump(FAST))
    try:
        yield stix_home
    finally:
        from stix_jobs.client import controller_home

        home = controller_home()
        if home is not None and (home / "jobs" / "controller.log").exists():
            print((home / "jobs" / "controller.log").read_text()[-5000:])
        cleanup()
