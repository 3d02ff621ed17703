"""Process liveness checks that survive pid reuse and zombies (Linux /proc, with a fallback)."""

from __future__ import annotations

import os
from typing import List, Optional


def _stat_fields(pid: int) -> Optional[List[str]]:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first), or None."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            data = fh.read()
    except OSError:
        return None
    return data.rsplit(")", 1)[-1].split()


def _start_of(fields: Optional[List[str]]) -> Optional[str]:
    return fields[19] if fields is not None and len(fields) > 19 else None


def start_time(pid: int) -> Optional[str]:
    """The kernel start time of ``pid`` (a token, not seconds), or None when unknown."""
    return _start_of(_stat_fields(pid))


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
    fields = _stat_fields(pid)
    if fields and fields[0] in ("Z", "X"):
        return False
    if started is not None:
        now = _start_of(fields)
        if now is not None and now != started:
            return False
    return True
