"""What object stores share when moving files: local files to upload and node shell pieces.

A store plugin's ``upload`` walks a local file or folder into object keys; its
``node_commands`` are bash built from the same few pieces (a quoted destination that
keeps ``~/`` expandable, a download function, one ``stix:`` error line, a subshell).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

# bash function `_stix_get URL FILE`: curl, else wget, else python3
GET_FUNCTION = (
    '_stix_get() { if command -v curl >/dev/null 2>&1; then curl -fsSL -o "$2" "$1"; '
    'elif command -v wget >/dev/null 2>&1; then wget -q -O "$2" "$1"; '
    "else python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "
    '"$1" "$2"; fi; }'
)


def upload_pairs(source: Path, prefix: str = "") -> list[tuple[Path, str]]:
    """``(local file, object key)`` for a file or every file under a folder, keys under ``prefix``.

    A file keeps its name (``prefix/name``); a folder's files keep their relative paths.
    """
    base = prefix.strip("/")
    if source.is_file():
        return [(source, f"{base}/{source.name}" if base else source.name)]
    pairs = []
    for root, _dirs, files in os.walk(source):
        for name in sorted(files):
            path = Path(root) / name
            rel = path.relative_to(source).as_posix()
            pairs.append((path, f"{base}/{rel}" if base else rel))
    return pairs


def quote_path(text: str) -> str:
    """Shell-quote a node path, keeping a leading ``~/`` expandable."""
    if text.startswith("~/"):
        return '"$HOME"/' + shlex.quote(text[2:])
    return shlex.quote(text)


def fail_line(what: str, fix: str) -> str:
    """bash that prints ``stix: <what>; <fix>`` to stderr and exits 1 (the line users see)."""
    return f"echo {shlex.quote(f'stix: {what}; {fix}')} >&2; exit 1"


def subshell(lines: list[str]) -> str:
    """One ``( ... )`` block, so ``set -e`` and ``exit`` stay inside it."""
    return "(\n" + "\n".join(lines) + "\n)\n"


__all__ = ["GET_FUNCTION", "fail_line", "quote_path", "subshell", "upload_pairs"]
