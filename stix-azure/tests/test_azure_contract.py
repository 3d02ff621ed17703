"""The core's cloud contract suite, run against the azure plugin, and the SDK-free entry module."""

from __future__ import annotations

import json
import subprocess
import sys

from stix.testing.contract import CloudContract

SDK = ("azure", "msal")


class TestAzureContract(CloudContract):
    cloud_name = "azure"
    entry_module = "stix_azure.hooks"
    sdk_modules = SDK


def test_registering_everything_imports_no_sdk() -> None:
    """``stix plugins`` and ``stix --help`` call every registration hook: still no azure-*."""
    code = (
        "import json, sys\n"
        "from stix_azure import hooks\n"
        "made = []\n"
        "for hook in (hooks.register_clouds, hooks.register_catalogs, hooks.register_provisioners,"
        " hooks.register_stores):\n"
        "    hook(register=made.append)\n"
        "print(json.dumps({'made': [m.name for m in made], 'modules': sorted(sys.modules)}))\n"
    )
    out = json.loads(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
    )
    assert out["made"] == ["azure", "azure", "azure", "azure"]
    loaded = {name.split(".")[0] for name in out["modules"]}
    assert not loaded & set(SDK), sorted(loaded & set(SDK))
