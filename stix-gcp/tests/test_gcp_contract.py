"""The core's cloud contract suite, run against the gcp plugin, and its start-up cost."""

from __future__ import annotations

import json
import subprocess
import sys

from stix.testing.contract import CloudContract

SDK = ("google.cloud.compute_v1", "google.cloud.storage", "google.auth", "google.api_core")


class TestGcpContract(CloudContract):
    cloud_name = "gcp"
    entry_module = "stix_gcp.hooks"
    sdk_modules = SDK


def test_registering_everything_imports_no_google_library() -> None:
    """``stix plugins`` and ``stix --help`` call every registration hook: still no Google SDK."""
    code = (
        "import json, sys\n"
        "from stix_gcp import hooks\n"
        "made = []\n"
        "for name in ('register_clouds', 'register_catalogs', 'register_provisioners',"
        " 'register_stores'):\n"
        "    hook = getattr(hooks, name, None)\n"
        "    if hook: hook(register=made.append)\n"
        "print(json.dumps({'made': [m.name for m in made], 'modules': sorted(sys.modules)}))\n"
    )
    out = json.loads(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
    )
    assert out["made"][:3] == ["gcp", "gcp", "gcp"]
    loaded = set(out["modules"])
    assert not loaded & set(SDK), sorted(loaded & set(SDK))
    assert not any(m.startswith(("google.cloud", "google.auth", "grpc")) for m in loaded)
