"""Meta tests: the contract is documented and tested, modules stay small, start-up stays SDK-free."""

from __future__ import annotations

import ast
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from stix import hookspecs, interfaces
from stix.plugins import hook_names

REPO = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for p in REPO.glob("stix-*/src/**/*.py"))
TESTS = sorted(
    p for p in REPO.glob("**/tests/**/*.py") if ".nox" not in p.parts and ".venv" not in p.parts
)
HEAVY_SDKS = ("boto3", "botocore", "google", "azure", "kubernetes", "fabric", "paramiko")


@pytest.mark.parametrize("name", hook_names())
def test_every_hook_is_documented(name: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    params = [p for p in inspect.signature(getattr(hookspecs, name)).parameters]
    assert doc, f"hook {name} has no docstring"
    assert "Called" in doc, f"hook {name} does not say when it is called"
    for param in params:
        assert f":param {param}:" in doc, f"hook {name} does not document {param}"


@pytest.mark.parametrize("name", hook_names())
def test_every_hook_has_a_test(name: str) -> None:
    pattern = re.compile(rf"def test_hook_{name}(\(|_)")
    assert any(pattern.search(path.read_text()) for path in TESTS), f"no test_hook_{name} anywhere"


def _public_methods(cls: type) -> list[tuple[str, object]]:
    return [
        (n, f)
        for n, f in vars(cls).items()
        if callable(f) and not n.startswith("_") and n not in ("head",)
    ]


@pytest.mark.parametrize(
    "cls",
    [
        interfaces.Cloud,
        interfaces.CatalogSource,
        interfaces.Provisioner,
        interfaces.Store,
        interfaces.Backend,
    ],
)
def test_interfaces_are_documented(cls: type) -> None:
    assert inspect.getdoc(cls)
    for name, func in _public_methods(cls):
        assert inspect.getdoc(func), f"{cls.__name__}.{name} has no docstring"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_modules_are_small_and_documented(path: Path) -> None:
    text = path.read_text()
    assert len(text.splitlines()) <= 600, f"{path.name} is over 600 lines: split it by concern"
    assert not path.name.endswith("utils.py"), "no utils grab-bags: put helpers with their concern"
    if text.strip():
        assert ast.get_docstring(ast.parse(text)), f"{path.name} has no module docstring"


@pytest.mark.parametrize(
    "argv", [["--help"], ["plugins"], ["validate", "--help"], ["status"], ["launch", "--help"]]
)
def test_startup_imports_no_cloud_sdk(argv: list[str], stix_home: Path) -> None:
    code = (
        "import sys, json\n"
        "from stix.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.__stdout__.write('\\nMODULES=' + json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    loaded = {m.split(".")[0] for m in json.loads(out.rsplit("MODULES=", 1)[1])}
    assert not loaded & set(HEAVY_SDKS), (
        f"stix {' '.join(argv)} imported {sorted(loaded & set(HEAVY_SDKS))}"
    )
