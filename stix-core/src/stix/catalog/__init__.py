"""Cloud catalogs: SkyPilot-v8 CSV folders under ``$STIX_HOME/catalogs``, an
indexed SQLite cache over them, and accelerator name resolution.

Submodules are imported on first use of the names below.
"""

from __future__ import annotations

from stix.lazy import lazy_exports

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

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
