"""The core's cloud contract suite, run against the kubernetes plugin and the fake API."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from k8s_fakes import FakeKubeApi
from stix.interfaces import Cloud
from stix.testing.contract import CloudContract

SDK = ("kubernetes", "websocket", "urllib3", "yaml")


class TestKubernetesContract(CloudContract):
    cloud_name = "kubernetes"
    entry_module = "stix_k8s.hooks"
    sdk_modules = SDK[:3]

    @pytest.fixture
    def cloud(self, kube: FakeKubeApi) -> Cloud:
        from stix.plugins import Registry

        return Registry().cloud(self.cloud_name)


def test_registering_everything_imports_no_client() -> None:
    """``stix plugins`` calls every registration hook: still no kubernetes client."""
    code = (
        "import json, sys\n"
        "from stix_k8s import hooks\n"
        "made = []\n"
        "for hook in (hooks.register_clouds, hooks.register_provisioners):\n"
        "    hook(register=made.append)\n"
        "print(json.dumps({'made': [m.name for m in made], 'modules': sorted(sys.modules)}))\n"
    )
    out = json.loads(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
    )
    assert out["made"] == ["kubernetes", "kubernetes"]
    loaded = {name.split(".")[0] for name in out["modules"]}
    assert not loaded & set(SDK[:3])


def test_the_in_pod_exec_client_is_stdlib_only() -> None:
    """podexec runs in pods with a bare Python: it may import nothing but the stdlib."""
    from pathlib import Path

    import stix_k8s

    source = Path(stix_k8s.__file__).with_name("podexec.py")
    code = f"import runpy, sys; runpy.run_path({str(source)!r}); print(sorted(sys.modules))"
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "stix" not in out.stdout and "kubernetes" not in out.stdout
