"""Keep ``workdir``, ``file_mounts`` and storage-mount destinations inside the node's root.

Two checks: :func:`check_destinations` refuses, before anything is provisioned, a
destination that escapes lexically (``..`` above the home, ``~user``); :func:`inside`
resolves a destination against a local root at copy time and refuses one that leaves it
through a symlink. :data:`SHELL_GUARD` is the same copy-time rule for a node's own shell.
On a node the root is the home for ``~``-relative and relative paths, and ``/`` for
absolute ones (as SkyPilot does); a local sandbox maps absolute paths into its home.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from stix.errors import ClusterError, TaskError

if TYPE_CHECKING:
    from stix.task import Task


def split(dest: str) -> tuple[str, str]:
    """``(anchor, rest)``: anchor ``"~"`` (home-relative) or ``"/"``; rest has no leading ``/``.

    :raises ValueError: a ``~user`` form, an empty path or a NUL byte.
    """
    if not dest or "\0" in dest:
        raise ValueError("a destination must be a non-empty path without NUL bytes")
    if dest.startswith("~"):
        head, _, rest = dest.partition("/")
        if head != "~":
            raise ValueError(f"{dest!r}: only '~' and '~/...' name the home; '{head}' does not")
        return "~", rest
    if dest.startswith("/"):
        return "/", dest.lstrip("/")
    return "~", dest


def normal(dest: str) -> tuple[str, str]:
    """``split`` with ``rest`` normalised; refuses ``..`` that climbs above a home anchor."""
    anchor, rest = split(dest)
    parts: list[str] = []
    for part in rest.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                if anchor == "~":
                    raise ValueError(f"{dest!r} climbs out of the node's home with '..'")
                continue  # '/..' is '/'
            parts.pop()
            continue
        parts.append(part)
    return anchor, "/".join(parts)


def check_destination(dest: str, field: str) -> str:
    """Validate one destination; return it normalised (``~/x``, ``/x``).

    :raises TaskError: naming ``field`` when ``dest`` would leave the node's root.
    """
    try:
        anchor, rest = normal(dest)
    except ValueError as exc:
        raise TaskError(str(exc), path=field) from None
    if anchor == "~":
        return "~/" + rest if rest else "~"
    return "/" + rest


def check_destinations(task: Task) -> None:
    """Refuse every ``file_mounts`` (and storage mount) destination that escapes the node.

    Called before provisioning (``launch``) and by ``stix validate``.

    :raises TaskError: ``file_mounts.<dest>: ...`` for the first bad destination.
    """
    for dest in task.file_mounts or {}:
        check_destination(dest, f"file_mounts.{dest}")


def inside(root: Path, dest: str, *, absolute_inside: bool = True) -> Path:
    """The local path of ``dest`` under ``root``, refusing any escape (``..`` or a symlink).

    Every existing component of the result is resolved (a symlink planted on the node
    is followed only while it stays under ``root``); a final symlink is allowed only when
    it points inside too.

    :param absolute_inside: map ``/x`` to ``root/x`` (local sandboxes) instead of refusing.
    :raises ClusterError: naming ``dest`` when it leaves ``root``.
    """
    try:
        anchor, rest = normal(dest)
    except ValueError as exc:
        raise ClusterError(f"destination {exc}") from None
    if anchor == "/" and not absolute_inside:
        raise ClusterError(f"destination {dest!r} is outside {root}")
    base = Path(os.path.realpath(root))
    target = base / rest if rest else base
    real = Path(os.path.realpath(target))
    if real != base and base not in real.parents:
        raise ClusterError(
            f"destination {dest!r} leaves the node's root {root} (it resolves to {real})"
        )
    return target


# Shell text for a node: ``$1`` is a destination (``~`` already expanded by the caller's
# shell when home-relative). A home-relative destination whose resolved path leaves the
# real home fails with exit code 3 and one line on stderr; absolute ones are left alone
# (their root is ``/``).
SHELL_GUARD = (
    'case "$1" in /*) ;; *) set -- "$HOME/$1" "${@:2}";; esac; '
    'h=$(cd ~ && pwd -P); case "$1" in "$HOME"|"$HOME"/*|"$h"|"$h"/*) '
    'r=$(realpath -m -- "$1"); case "$r" in "$h"|"$h"/*) ;; *) '
    'echo "destination $1 leaves the home $h (resolves to $r)" >&2; exit 3;; esac;; esac; '
)


def guarded(dest: str, script: str) -> str:
    """``script`` (bash) preceded by :data:`SHELL_GUARD` for ``dest`` on a remote node."""
    import shlex

    arg = '"$HOME"/' + shlex.quote(dest[2:]) if dest.startswith("~/") else shlex.quote(dest)
    return f"set -- {arg}\n{SHELL_GUARD}\n{script}"
