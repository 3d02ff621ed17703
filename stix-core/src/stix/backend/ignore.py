"""Which files of a workdir are not synced: ``.skyignore`` if present, else ``.gitignore``.

A root ``.skyignore`` is used as it is (rsync exclude patterns). Otherwise every
``.gitignore`` in the tree counts, each relative to its own folder, rewritten as
rsync-style patterns anchored at the synced folder. Common gitignore forms (``name``,
``dir/``, ``/anchored``, ``a/b``, ``**/name``, ``*.glob``) are supported; negations
(``!keep``) are skipped.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

IGNORE_FILES = (".skyignore", ".stixignore")
GITIGNORE = ".gitignore"


def _read_patterns(path: Path) -> list[str]:
    patterns = []
    for line in path.read_text(errors="replace").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")):
            patterns.append(line)
    return patterns


def _rebase(pattern: str, folder: str) -> list[str]:
    """Rsync-style excludes for gitignore ``pattern`` found in ``folder`` (relative, '' = root)."""
    trail = "/" if pattern.endswith("/") else ""
    body = pattern.rstrip("/")
    any_depth = body.startswith("**/")
    while body.startswith("**/"):
        body = body[3:]
    anchored = "/" in body and not any_depth
    body = body.lstrip("/")
    if not body:
        return []
    base = f"/{folder}/" if folder else "/"
    if anchored:  # relative to the .gitignore's folder
        return [f"{base}{body}{trail}"]
    if not folder:  # any depth below the root
        return [f"{body}{trail}"] if "/" not in body else [f"/{body}{trail}", f"**/{body}{trail}"]
    return [f"{base}{body}{trail}", f"{base}**/{body}{trail}"]


def excludes_for(source: Path) -> list[str]:
    """Exclude patterns for syncing folder ``source`` (empty for files)."""
    source = Path(source).expanduser()
    if not source.is_dir():
        return []
    for name in IGNORE_FILES:
        path = source / name
        if path.is_file():
            return _read_patterns(path)
    patterns: list[str] = []
    for root, dirs, files in os.walk(source):
        rel = os.path.relpath(root, source)
        rel = "" if rel == "." else rel.replace(os.sep, "/")
        if GITIGNORE in files:
            for pattern in _read_patterns(Path(root) / GITIGNORE):
                patterns += [p for p in _rebase(pattern, rel) if p not in patterns]
        prefix = f"{rel}/" if rel else ""
        dirs[:] = [d for d in dirs if d != ".git" and not ignored(prefix + d, True, patterns)]
    return patterns


def ignored(rel: str, is_dir: bool, patterns: Sequence[str]) -> bool:
    """Whether ``rel`` (a path relative to the synced folder) matches an exclude pattern."""
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
    """Copy ``source`` to ``target`` skipping ignored paths (used when rsync is absent).

    Like rsync, a symlink already at a destination path is replaced by what the source
    holds, never followed (a link planted on a node cannot redirect a copy).
    """
    for root, dirs, files in os.walk(source):
        rel_root = os.path.relpath(root, source)
        rel_root = "" if rel_root == "." else rel_root + "/"
        dirs[:] = [d for d in dirs if not ignored(rel_root + d, True, patterns)]
        folder = target / rel_root
        if folder.is_symlink():
            folder.unlink()
        folder.mkdir(parents=True, exist_ok=True)
        for name in files:
            if not ignored(rel_root + name, False, patterns):
                dest = folder / name
                if dest.is_symlink():
                    dest.unlink()
                shutil.copy2(os.path.join(root, name), dest)
