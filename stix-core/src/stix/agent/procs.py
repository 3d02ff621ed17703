"""Process liveness checks that survive pid reuse and zombies (Linux /proc, with a fallback)."""

from __future__ import annotations

import os
from typing import Optional


def start_time(pid: int) -> Optional[str]:
    """The kernel start time of ``pid`` (a token, not seconds), or None when unknown."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            data = fh.read()
    except OSError:
        return None
    fields = data.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def _state(pid: int) -> Optional[str]:
    try:
        with open("/proc/%d/stat" % pid) as fh:
            data = fh.read()
    except OSError:
        return None
    fields = data.rsplit(")", 1)[-1].split()
    return fields[0] if fields else None


def alive(pid: Optional[int], started: Optional[str] = None) -> bool:
    """True when ``pid`` runs and (if given) is the same process that started at ``started``."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if _state(pid) in ("Z", "X"):
        return False
    if started is not None:
        now = start_time(pid)
        if now is not None and now != started:
            return False
    return True
