"""Shared test setup: a small hand-made SkyPilot-v8 catalog and two test clouds.

Clouds: ``alpha`` (zones, spot, every feature; plugin installed), ``beta``
(regions only, no spot; plugin installed, egress $0.10/GB) and ``gcp`` (catalog
only, no plugin: its offers are shown but not launchable).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
from stix.hookspecs import hookimpl
from stix.interfaces import CheckResult, Cloud

DATA = Path(__file__).resolve().parent / "data" / "v8"


class AlphaCloud(Cloud):
    name: ClassVar[str] = "alpha"
    features: ClassVar[frozenset[str]] = frozenset(
        {"spot", "multi_node", "open_ports", "image_id", "stop", "disk_tier"}
    )

    def check(self) -> CheckResult:
        return CheckResult(True, "test cloud")

    def egress_cost(self, gigabytes: float) -> float:
        return 0.2 * gigabytes


class BetaCloud(Cloud):
    name: ClassVar[str] = "beta"
    features: ClassVar[frozenset[str]] = frozenset({"multi_node"})

    def check(self) -> CheckResult:
        return CheckResult(True, "test cloud")

    def egress_cost(self, gigabytes: float) -> float:
        return 0.1 * gigabytes


class TestClouds:
    """In-process plugin registering the two test clouds."""

    @hookimpl
    def register_clouds(self, register: Any) -> None:
        register(AlphaCloud)
        register(BetaCloud)


@pytest.fixture
def registry(stix_home: Path) -> Any:
    """A registry with only the test clouds (no installed plugins), process-wide."""
    from stix.plugins import Registry, reset_registry

    reg = Registry(entry_points=[])
    reg.register(TestClouds(), "testclouds")
    reset_registry(reg)
    yield reg
    reset_registry(None)


@pytest.fixture
def small_home(stix_home: Path) -> Path:
    """``$STIX_HOME`` with the small catalog imported."""
    from stix.catalog.files import import_skypilot

    import_skypilot(DATA)
    return stix_home


@pytest.fixture
def catalog(small_home: Path) -> Any:
    from stix.catalog.query import Catalog

    cat = Catalog()
    yield cat
    cat.close()
