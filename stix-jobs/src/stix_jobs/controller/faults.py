"""Fault injection for tests: the controller kills itself right after a chosen write.

A test writes ``$STIX_HOME/jobs/crash_at`` on the controller node; nothing else reads it.
"""

from __future__ import annotations

import os
import signal

from stix_jobs import db


def crash_point(status: str) -> None:
    """Fault injection for tests: SIGKILL itself right after writing ``status``.

    ``$STIX_HOME/jobs/crash_at`` on the controller node lists states, comma-separated;
    each is used once, in order, so one job can take the controller down several times.
    """
    path = db.jobs_home() / "crash_at"
    try:
        wanted = [w for w in path.read_text().strip().split(",") if w]
    except OSError:
        return
    if wanted and wanted[0] == status:
        rest = ",".join(wanted[1:])
        if rest:
            path.write_text(rest)
        else:
            path.unlink()
        os.kill(os.getpid(), signal.SIGKILL)
