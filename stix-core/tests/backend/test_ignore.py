"""Workdir exclusions: .skyignore wins over .gitignore; the fallback copier honours them."""

from __future__ import annotations

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
