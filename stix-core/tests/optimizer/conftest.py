import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "catalog"))

from catalog_testkit import catalog, registry, small_home

__all__ = ["catalog", "registry", "small_home"]
