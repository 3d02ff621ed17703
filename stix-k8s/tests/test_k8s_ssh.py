"""``ssh <cluster>`` reaches the pod through the exec API (ProxyCommand + ``sshd -i``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from k8s_fakes import FakeKubeApi


def _sshd() -> str | None:
    return shutil.which("sshd") or next(
        (p for p in ("/usr/sbin/sshd", "/usr/bin/sshd") if Path(p).exists()), None
    )


@pytest.mark.skipif(
    _sshd() is None or shutil.which("ssh") is None, reason="needs OpenSSH (sshd, ssh)"
)
def test_ssh_into_a_pod_through_exec(
    kube: FakeKubeApi, cli: Any, stix_home: Path, tmp_path: Path
) -> None:
    task = tmp_path / "task.yaml"
    task.write_text("resources:\n  infra: k8s\n  cpus: 1\nrun: echo up\n")
    launched = cli("launch", "-y", "-c", "sh1", str(task))
    assert launched.exit_code == 0, launched.stderr
    try:
        conf = stix_home / "ssh" / "clusters" / "sh1.conf"
        assert "ProxyCommand" in conf.read_text() and "stix_k8s.proxy" in conf.read_text()
        pod = kube.names("pods")[0]
        result = subprocess.run(
            ["ssh", "-F", str(conf), "-o", "BatchMode=yes", "sh1", "echo pod=$STIX_K8S_POD; echo ok"],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert f"pod={pod}" in result.stdout and "ok" in result.stdout
        # no port was opened: the session went through the exec subresource
        assert ("GET", f"/api/v1/namespaces/default/pods/{pod}/exec") in kube.calls
    finally:
        assert cli("down", "-y", "sh1").exit_code == 0
    assert not (stix_home / "ssh" / "clusters" / "sh1.conf").exists()
