"""Which files of a workdir are not synced: ``.skyignore`` if present, else ``.gitignore``.

Patterns follow gitignore's common forms (``name``, ``dir/``, ``/anchored``, ``*.glob``);
negations (``!keep``) are not supported and are skipped.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

IGNORE_FILES = (".skyignore", ".stixignore", ".gitignore")


def excludes_for(source: Path) -> list[str]:
    """Exclude patterns for syncing folder ``source`` (empty for files)."""
    source = Path(source).expanduser()
    if not source.is_dir():
        return []
    for name in IGNORE_FILES:
        path = source / name
        if path.is_file():
            patterns = []
            for line in path.read_text(errors="replace").splitlines():
                line = line.strip()
                if line and not line.startswith(("#", "!")):
                    patterns.append(line)
            return patterns
    return []


def _ignored(rel: str, is_dir: bool, patterns: Sequence[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    for pattern in patterns:
        dir_only = pattern.endswith("/")
        pat = pattern.rstrip("/")
        if dir_only and not is_dir:
            continue
        if pat.startswith("/") or "/" in pat:
            if fnmatch.fnmatchcase(rel, pat.lstrip("/")):
                return True
        elif fnmatch.fnmatchcase(name, pat):
            return True
    return False


def copy_tree(source: Path, target: Path, patterns: Sequence[str]) -> None:
    """Copy ``source`` to ``target`` skipping ignored paths (used when rsync is absent)."""
    for root, dirs, files in os.walk(source):
        rel_root = os.path.relpath(root, source)
        rel_root = "" if rel_root == "." else rel_root + "/"
        dirs[:] = [d for d in dirs if not _ignored(rel_root + d, True, patterns)]
        (target / rel_root).mkdir(parents=True, exist_ok=True)
        for name in files:
            if not _ignored(rel_root + name, False, patterns):
                shutil.copy2(os.path.join(root, name), target / rel_root / name)
