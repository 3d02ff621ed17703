"""Checks on real processes for tests that start them (jobs, agents, sandboxes).

Written independently of the code under test, so that a test asserting "the job's
processes are gone" does not ask the agent's own liveness helper.
"""

from __future__ import annotations

import os
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (Linux ``/proc``)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


__all__ = ["pid_alive"]
