"""The SDK's exported names stay its functions whatever was imported first.

A submodule named like an exported function (``stix.sdk.launch`` the module beside
``stix.sdk.launch`` the function) replaces the function on the package once anything
imports the submodule: every SDK export must be callable after its module is imported.
"""

from __future__ import annotations

import subprocess
import sys

import stix.sdk


def test_exports_are_not_shadowed_by_submodules() -> None:
    code = (
        "import importlib, sys, stix.sdk as sdk\n"
        "mods = sorted(set(sdk._LAZY.values()))\n"
        "for m in mods: importlib.import_module(m)\n"  # the submodules first, as plugins do
        "bad = [n for n in sdk._LAZY if isinstance(getattr(sdk, n), type(sys))]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert callable(stix.sdk.launch) and callable(stix.sdk.exec)
