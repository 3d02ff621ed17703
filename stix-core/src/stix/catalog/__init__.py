"""Cloud catalogs: SkyPilot-v8 CSV folders under ``$STIX_HOME/catalogs``, an
indexed SQLite cache over them, and accelerator name resolution.

Submodules are imported on first use of the names below.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Offer": "stix.catalog.offer",
    "Catalog": "stix.catalog.query",
    "OfferFilter": "stix.catalog.query",
    "GpuSpec": "stix.catalog.accelerators",
    "import_skypilot": "stix.catalog.files",
    "update": "stix.catalog.files",
    "installed": "stix.catalog.files",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stix.catalog' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
