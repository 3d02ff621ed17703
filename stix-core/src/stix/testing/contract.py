"""The cloud contract suite: tests every cloud plugin runs against itself.

Subclass :class:`CloudContract` in your plugin's tests and set the class
attributes; pytest collects the inherited tests::

    from stix.testing.contract import CloudContract

    class TestMyCloud(CloudContract):
        cloud_name = "mycloud"
        entry_module = "stix_mycloud.hooks"
        sdk_modules = ("mycloud_sdk",)
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import ClassVar

import pytest

from stix.interfaces import FEATURES, CheckResult, Cloud


class CloudContract:
    """Inherited tests that pin down what every cloud plugin must do.

    ``cloud_name``: the name users write in YAML. ``entry_module``: the module
    named by the plugin's entry point. ``sdk_modules``: modules of the cloud's
    SDK (top-level or dotted names), which neither importing the entry module
    nor calling its registration hooks may import.
    """

    cloud_name: ClassVar[str]
    entry_module: ClassVar[str]
    sdk_modules: ClassVar[tuple[str, ...]] = ()

    @pytest.fixture
    def cloud(self) -> Cloud:
        from stix.plugins import Registry

        return Registry().cloud(self.cloud_name)

    def test_registered_under_its_name(self, cloud: Cloud) -> None:
        assert isinstance(cloud, Cloud)
        assert cloud.name == self.cloud_name
        assert cloud.name == cloud.name.lower() and cloud.name.isidentifier()

    def test_features_are_known(self, cloud: Cloud) -> None:
        unknown = set(cloud.features) - FEATURES
        assert not unknown, f"unknown feature names: {sorted(unknown)}"

    def test_check_answers_without_raising(self, cloud: Cloud) -> None:
        result = cloud.check()
        assert isinstance(result, CheckResult)
        assert isinstance(result.detail, str)
        if not result.ok:
            assert result.hint, "a failed check must say how to fix it"

    def test_entry_module_does_not_import_sdk(self) -> None:
        code = (
            "import importlib, json, sys\n"
            f"importlib.import_module({self.entry_module!r})\n"
            "print(json.dumps(sorted(sys.modules)))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        names = json.loads(out)
        loaded = {*names, *(name.split(".")[0] for name in names)}
        heavy = {"boto3", "botocore", "google", "azure", "kubernetes", *self.sdk_modules}
        assert not (loaded & heavy), f"entry module imports {sorted(loaded & heavy)}"

    def test_registration_hooks_do_not_import_sdk(self) -> None:
        """``stix plugins`` and ``stix --help`` call every registration hook: still no SDK."""
        code = (
            "import importlib, json, sys\n"
            f"mod = importlib.import_module({self.entry_module!r})\n"
            "made = []\n"
            "for name in sorted(dir(mod)):\n"
            "    if name.startswith('register_') and name != 'register_commands':\n"
            "        getattr(mod, name)(register=made.append)\n"
            "print(json.dumps(sorted(sys.modules)))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        names = json.loads(out)
        loaded = {*names, *(name.split(".")[0] for name in names)}
        heavy = {"boto3", "botocore", "google", "azure", "kubernetes", *self.sdk_modules}
        assert not (loaded & heavy), f"registration hooks import {sorted(loaded & heavy)}"

    def test_unsupported_names_the_cloud(self, cloud: Cloud) -> None:
        from stix.task import Resources

        missing = [f for f in ("multi_node", "spot") if f not in cloud.features]
        if not missing:
            pytest.skip("the cloud supports multi-node and spot")
        reason = cloud.unsupported(Resources(use_spot=True), num_nodes=2)
        assert reason is not None and reason.startswith(f"{cloud.name}:")

    def test_live_offers_when_no_catalog(self, cloud: Cloud) -> None:
        if cloud.uses_catalog:
            pytest.skip("prices come from the catalog")
        from stix.task import Resources

        offers = cloud.live_offers(Resources(), 1)
        assert offers, "a catalog-free cloud must offer at least one shape for a default request"
        for offer in offers:
            assert offer.cloud == cloud.name
            assert offer.vcpus > 0 and offer.memory_gib > 0
