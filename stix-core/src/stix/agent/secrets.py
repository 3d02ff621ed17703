"""Secret values of queued jobs: kept out of the job database, in 0600 files deleted at job end."""

from __future__ import annotations

import json
import os
from typing import Any, Dict

from . import states

DIR = "secrets"


def path(home: str, job_id: int) -> str:
    return os.path.join(home, DIR, "%d.json" % job_id)


def save(home: str, job_id: int, values: Dict[str, Any]) -> None:
    """Write a job's secrets readable by the owner only."""
    folder = os.path.join(home, DIR)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    fd = os.open(path(home, job_id), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(values, fh)


def load(home: str, job_id: int) -> Dict[str, Any]:
    try:
        with open(path(home, job_id)) as fh:
            return dict(json.load(fh))
    except (OSError, ValueError):
        return {}


def forget(home: str, job_id: int) -> None:
    try:
        os.unlink(path(home, job_id))
    except OSError:
        pass


def purge(home: str, conn: Any) -> None:
    """Delete the secrets of every job that has ended."""
    folder = os.path.join(home, DIR)
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        stem = name.split(".", 1)[0]
        if not stem.isdigit():
            continue
        row = conn.execute("SELECT status FROM jobs WHERE job_id = ?", (int(stem),)).fetchone()
        if row is None or states.is_terminal(row[0]):
            forget(home, int(stem))
