"""Per-cluster file locks so that two commands never change one cluster at the same time."""

from __future__ import annotations

import fcntl
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from stix.errors import ClusterError

_NAME = re.compile(r"^[a-zA-Z]([-_.a-zA-Z0-9]*[a-zA-Z0-9])?$")


def check_name(name: str) -> str:
    """Validate a cluster name (letters, digits, ``-_.``; starts with a letter)."""
    if not _NAME.match(name) or len(name) > 63:
        raise ClusterError(
            f"invalid cluster name {name!r}: use letters, digits, '-', '_' or '.', "
            "starting with a letter (at most 63 characters)"
        )
    return name


_held = threading.local()


def _depths() -> dict[str, int]:
    depths: dict[str, int] | None = getattr(_held, "depths", None)
    if depths is None:
        depths = _held.depths = {}
    return depths


@contextmanager
def cluster_lock(name: str) -> Iterator[None]:
    """Hold the exclusive lock of cluster ``name`` (waits for other holders).

    Re-entrant within one thread: a function that takes the lock can be called by
    one that already holds it without waiting on itself.
    """
    from stix.config import stix_home

    depths = _depths()
    if depths.get(name):
        depths[name] += 1
        try:
            yield
        finally:
            depths[name] -= 1
        return
    folder = stix_home() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.lock"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:  # the file is removed on release: holding a removed inode is no lock
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        depths[name] = 1
        try:
            yield
        finally:
            depths.pop(name, None)
    finally:
        # Unlink while still holding it, so lock files never pile up in the state folder;
        # a waiter on the old inode sees it is gone and opens a fresh one.
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        os.close(fd)
