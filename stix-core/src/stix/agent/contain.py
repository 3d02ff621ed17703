"""Track every process of a node and of a job rank by something they cannot shed.

Where a writable cgroup v2 hierarchy exists (``<cgroup2 mount>/stix``), each node gets a
cgroup ``n-<id>`` with one leaf per rank (``r-<job>-<phase>-<rank>``) and one for the
node's own agent processes (``agent``); membership survives ``setsid``, double forks and
a cleared environment, and ``cgroup.kill`` ends a whole subtree. Elsewhere the agent
falls back to ``PR_SET_CHILD_SUBREAPER``: every rank runs under its own reaper
(:mod:`reaper`), and the driver and daemon are subreapers too, so orphans re-parent to
them and :func:`kill_descendants` ends them. Stdlib only (ships in the agent).
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from typing import List, Optional

from . import reaper
from .reaper import become_subreaper, kill_descendants

__all__ = ["become_subreaper", "kill_descendants"]

_DISABLE = "STIX_CGROUP"  # "off": never use cgroups (tests of the fallback)
_BASE: List[Optional[str]] = []


def _mount() -> Optional[str]:
    try:
        with open("/proc/mounts") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) > 2 and parts[2] == "cgroup2":
                    return parts[1]
    except OSError:
        pass
    return None


def base() -> Optional[str]:
    """The writable ``stix`` cgroup folder, or None when cgroups cannot be used here."""
    if _BASE:
        return _BASE[0]
    found = None
    mount = _mount() if os.environ.get(_DISABLE) != "off" else None
    if mount:
        path = os.path.join(mount, "stix")
        try:
            os.makedirs(path, exist_ok=True)
            if os.access(os.path.join(path, "cgroup.procs"), os.W_OK):
                found = path
        except OSError:
            found = None
    _BASE.append(found)
    return found


def identity(home: Optional[str] = None) -> str:
    """What names this node: its ``STIX_NODE_ID`` (local sandboxes), else its home."""
    node_id = os.environ.get("STIX_NODE_ID")
    if node_id:
        return node_id
    return "home:" + (home or os.environ.get("HOME") or os.path.expanduser("~"))


def node_name(ident: str) -> str:
    """The cgroup folder name of the node named ``ident``."""
    return "n-" + hashlib.sha1(ident.encode()).hexdigest()[:16]


def group(ident: str, leaf: Optional[str] = None) -> Optional[str]:
    """The cgroup path of a node (or of one of its leaves), or None without cgroups."""
    root = base()
    if root is None:
        return None
    path = os.path.join(root, node_name(ident))
    return os.path.join(path, leaf) if leaf else path


def join(path: Optional[str], pid: int = 0) -> bool:
    """Move ``pid`` (0: this process) into the cgroup ``path``; True when it worked."""
    if not path:
        return False
    try:
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "cgroup.procs"), "w") as fh:
            fh.write(str(pid or os.getpid()))
        return True
    except OSError:
        return False


def wrap(path: Optional[str], argv: List[str]) -> List[str]:
    """``argv`` run from inside the cgroup ``path`` (unchanged without cgroups)."""
    if not path:
        return list(argv)
    script = 'mkdir -p "$0" 2>/dev/null; echo $$ > "$0/cgroup.procs" 2>/dev/null; exec "$@"'
    return ["sh", "-c", script, path, *argv]


def shell_join(leaf: str) -> str:
    """Shell text that moves the current shell into ``leaf`` of this node's cgroup.

    For a remote node: the node is named by its home, as :func:`identity` does there.
    """
    return (
        "m=$(awk '$3==\"cgroup2\"{print $2; exit}' /proc/mounts 2>/dev/null); "
        'if [ -n "$m" ] && [ "${STIX_CGROUP:-}" != off ]; then '
        'g="$m/stix/n-$(printf \'home:%s\' "$HOME" | sha1sum | cut -c1-16)/' + leaf + '"; '
        'mkdir -p "$g" 2>/dev/null && echo $$ > "$g/cgroup.procs" 2>/dev/null; fi'
    )


def shell_kill(leaf: str, sig: int) -> str:
    """Shell text that signals every process in ``leaf`` of this (remote) node's cgroup."""
    return (
        "m=$(awk '$3==\"cgroup2\"{print $2; exit}' /proc/mounts 2>/dev/null); "
        'g="$m/stix/n-$(printf \'home:%s\' "$HOME" | sha1sum | cut -c1-16)/' + leaf + '"; '
        'if [ -n "$m" ] && [ -f "$g/cgroup.procs" ]; then '
        + ('echo 1 > "$g/cgroup.kill" 2>/dev/null || ' if sig == signal.SIGKILL else "")
        + 'for p in $(cat "$g/cgroup.procs"); do kill -%d "$p" 2>/dev/null; done; fi' % int(sig)
    )


def pids(path: Optional[str]) -> List[int]:
    """Every process in the cgroup ``path`` and its descendants."""
    out: List[int] = []
    if not path or not os.path.isdir(path):
        return out
    for folder, _dirs, _files in os.walk(path):
        try:
            with open(os.path.join(folder, "cgroup.procs")) as fh:
                out.extend(int(x) for x in fh.read().split())
        except (OSError, ValueError):
            continue
    return [p for p in out if p != os.getpid()]


def signal_group(path: Optional[str], sig: int) -> None:
    """Send ``sig`` to every process of ``path`` (``cgroup.kill`` for SIGKILL where present)."""
    if not path or not os.path.isdir(path):
        return
    if sig == signal.SIGKILL:
        try:
            with open(os.path.join(path, "cgroup.kill"), "w") as fh:
                fh.write("1")
            return
        except OSError:
            pass
    for pid in pids(path):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def kill_group(path: Optional[str], timeout: float = 10.0, remove: bool = True) -> bool:
    """SIGKILL everything in ``path`` until it is empty, then remove its folders.

    :returns: True when the group is empty (or absent).
    """
    if not path or not os.path.isdir(path):
        return True
    deadline = time.time() + timeout
    while True:
        signal_group(path, signal.SIGKILL)
        left = [p for p in pids(path) if _running(p)]
        if not left or time.time() > deadline:
            break
        time.sleep(0.05)
    if remove:
        for folder, _dirs, _files in sorted(os.walk(path), key=lambda w: -len(w[0])):
            try:
                os.rmdir(folder)
            except OSError:
                pass
    return not left


def _running(pid: int) -> bool:
    return reaper.running(pid)


def descendants(root: int) -> List[int]:
    """Every live descendant of ``root``."""
    return list(reaper.tree(root))
