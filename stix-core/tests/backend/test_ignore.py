"""Workdir exclusions: .skyignore wins over .gitignore; the fallback copier honours them."""

from __future__ import annotations

import shutil

import pytest
from stix.backend.ignore import copy_tree, excludes_for


def test_skyignore_wins(tmp_path):
    (tmp_path / ".gitignore").write_text("*.pyc\n")
    assert excludes_for(tmp_path) == ["*.pyc"]
    (tmp_path / ".skyignore").write_text("# comment\n\ndata/\n!keep\n/top.txt\n")
    assert excludes_for(tmp_path) == ["data/", "/top.txt"]
    assert excludes_for(tmp_path / "missing") == []


def test_copy_tree_applies_patterns(tmp_path):
    src = tmp_path / "src"
    for rel in ("a.py", "b.pyc", "data/x", "sub/data/y", "sub/top.txt", "top.txt", "sub/c.py"):
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)
    dest = tmp_path / "dest"
    copy_tree(src, dest, ["*.pyc", "data/", "/top.txt"])
    found = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert found == ["a.py", "sub/c.py", "sub/top.txt"]


def _tree(tmp_path):
    src = tmp_path / "src"
    files = {
        ".gitignore": "*.log\nbuild/\ndocs/out\n**/cache/tmp\n",
        "main.py": "",
        "x.log": "",
        "build/a.o": "",
        "docs/out/index.html": "",
        "docs/keep.md": "",
        "lib/build/b.o": "",
        "lib/cache/tmp/t": "",
        "sub/.gitignore": "secret.txt\n/only_here.txt\n",
        "sub/secret.txt": "",
        "sub/deep/secret.txt": "",
        "sub/only_here.txt": "",
        "sub/deep/only_here.txt": "",
        "sub/keep.py": "",
        "other/secret.txt": "",
        ".git/HEAD": "",
    }
    for rel, text in files.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return src


EXPECTED = [
    ".git/HEAD",
    ".gitignore",
    "docs/keep.md",
    "main.py",
    "other/secret.txt",
    "sub/.gitignore",
    "sub/deep/only_here.txt",
    "sub/keep.py",
]


def _listing(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_nested_gitignores_apply_to_their_own_folder(tmp_path):
    src = _tree(tmp_path)
    copy_tree(src, tmp_path / "dest", excludes_for(src))
    assert _listing(tmp_path / "dest") == EXPECTED


@pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync not installed")
def test_rsync_and_the_fallback_copier_agree(tmp_path):
    from stix.runner.local import LocalRunner

    src = _tree(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    runner = LocalRunner(home, "node-x")
    runner.sync(src, "~/wd", excludes_for(src))
    assert _listing(home / "wd") == EXPECTED
    (home / "wd" / "made_on_node").write_text("")
    runner.sync(src, "~/wd", excludes_for(src))
    assert (home / "wd" / "made_on_node").exists()
