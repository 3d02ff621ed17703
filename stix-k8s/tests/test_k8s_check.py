"""``stix check kubernetes`` names each usable context and why the others are not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from k8s_fakes import FakeKubeApi
from k8s_fakewire import write_config, write_kubeconfig


def test_check_names_usable_and_unusable_contexts(
    kube: FakeKubeApi, cli: Any, stix_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stix_k8s import contexts

    locked = FakeKubeApi(tmp_path / "locked-pods", [])
    locked.start()
    locked.denied = {"create pods/exec"}
    gone = FakeKubeApi(tmp_path / "gone-pods", [])
    gone.start()
    entries = [
        kube.context_entry("good"),
        locked.context_entry("locked"),
        gone.context_entry("gone"),
    ]
    bad_token = kube.context_entry("badauth")
    bad_token["users"][0]["user"]["token"] = "wrong"
    entries.append(bad_token)
    path = write_kubeconfig(tmp_path / "kc", entries, "good")
    gone.stop()  # its API server no longer answers
    monkeypatch.setenv("KUBECONFIG", str(path))
    contexts.reset_clients()
    write_config(
        stix_home, "kubernetes:\n  allowed_contexts: [good, locked, gone, badauth, nosuch]\n"
    )
    try:
        result = cli("check", "k8s")
    finally:
        locked.stop()
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "usable contexts: good;" in out
    assert "locked: RBAC forbids create pods/exec in namespace default" in out
    assert "gone: check: API server unreachable" in out
    assert "badauth: check: not authenticated" in out
    assert "nosuch: not in" in out


def test_check_without_kubeconfig_says_how_to_fix(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setenv("STIX_PLUGINS", "kubernetes")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    result = cli("check", "kubernetes")
    assert result.exit_code == 1
    assert "no kube context" in result.stdout and "fix:" in result.stdout
