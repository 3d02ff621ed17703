"""Meta tests on the test suites themselves: they must run together in one process.

Test folders have no ``__init__.py``, so every distribution's ``conftest.py`` is a module
called ``conftest``: importing names from it picks whichever was loaded first under
pytest-xdist. Shared helpers live in uniquely named modules instead.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_IMPORT = re.compile(r"^\s*(from conftest import|import conftest\b)", re.M)


def test_no_test_imports_from_a_conftest() -> None:
    offenders = [
        str(path.relative_to(REPO))
        for folder in [*REPO.glob("stix-*/tests"), REPO / "tests"]
        for path in folder.rglob("*.py")
        if _IMPORT.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_test_module_names_are_unique_across_distributions() -> None:
    seen: dict[str, str] = {}
    clashes = []
    for folder in REPO.glob("stix-*/tests"):
        for path in folder.rglob("*.py"):
            if path.name in ("conftest.py", "__init__.py"):
                continue
            if path.name in seen and seen[path.name] != str(folder):
                clashes.append(f"{path.relative_to(REPO)} ~ {seen[path.name]}")
            seen.setdefault(path.name, str(folder))
    assert clashes == []
