"""Secret values kept out of the job database, in 0600 files.

One file per queued job (deleted at job end), and :data:`AUTOSTOP` for the environment a
cloud's autostop command needs (an API key on clouds whose nodes have no identity).
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Union

from . import states

DIR = "secrets"
AUTOSTOP = "autostop"  # the key of the autostop command's environment

Key = Union[int, str]  # a job id, or AUTOSTOP


def path(home: str, key: Key) -> str:
    return os.path.join(home, DIR, "%s.json" % key)


def save(home: str, key: Key, values: Dict[str, Any]) -> None:
    """Write secrets readable by the owner only (the folder too)."""
    folder = os.path.join(home, DIR)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    fd = os.open(path(home, key), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(values, fh)


def load(home: str, key: Key) -> Dict[str, Any]:
    try:
        with open(path(home, key)) as fh:
            return dict(json.load(fh))
    except (OSError, ValueError):
        return {}


def forget(home: str, key: Key) -> None:
    try:
        os.unlink(path(home, key))
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
