"""The core's cloud contract suite, run against the vast plugin, and its start-up cost."""

from __future__ import annotations

import json
import subprocess
import sys

from stix.testing.contract import CloudContract


class TestVastContract(CloudContract):
    cloud_name = "vast"
    entry_module = "stix_vast.hooks"
    sdk_modules = ("requests", "urllib3")


def test_registering_everything_imports_no_http_client() -> None:
    """``stix plugins`` calls every registration hook: still no HTTP client is loaded."""
    code = (
        "import json, sys\n"
        "from stix_vast import hooks\n"
        "made = []\n"
        "for hook in (hooks.register_clouds, hooks.register_catalogs, hooks.register_provisioners):\n"
        "    hook(register=made.append)\n"
        "print(json.dumps({'made': [m.name for m in made], 'modules': sorted(sys.modules)}))\n"
    )
    out = json.loads(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
    )
    assert out["made"] == ["vast", "vast", "vast"]
    assert not {m.split(".")[0] for m in out["modules"]} & {"requests", "urllib3"}
    assert "stix.rest" not in out["modules"] and "urllib.request" not in out["modules"]
