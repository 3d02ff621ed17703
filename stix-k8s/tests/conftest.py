"""Fixtures for the Kubernetes tests: a fake API server on loopback and a kubeconfig for it.

The plugin talks real HTTP (and real websockets for exec) through the official client to
``FakeKubeApi``; its pods are local sandboxes whose processes really run. After each test
no pod, service, role or service account may be left, and no pod process may survive.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from k8s_fakes import NODES, FakeKubeApi

pytest_plugins = ["stix.testing"]


@pytest.fixture
def kube_nodes() -> list[dict[str, Any]]:
    """The fake cluster's nodes (tests may replace the list before using ``kube``)."""
    return [dict(n) for n in NODES]


@pytest.fixture
def kube(
    tmp_path: Path,
    stix_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    kube_nodes: list[dict[str, Any]],
) -> Iterator[FakeKubeApi]:
    """A running fake API server, ``$KUBECONFIG`` pointing at it (context ``fake``)."""
    from stix.plugins import reset_registry
    from stix_k8s import contexts

    for key in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(key, raising=False)
    api = FakeKubeApi(tmp_path / "pods", kube_nodes)
    api.start()
    monkeypatch.setenv("KUBECONFIG", str(api.kubeconfig(tmp_path / "kubeconfig")))
    monkeypatch.setenv("STIX_PLUGINS", "kubernetes")
    contexts.reset_clients()
    reset_registry()
    try:
        yield api
        left = {
            p: api.names(p)
            for p in ("pods", "services", "serviceaccounts", "roles", "rolebindings", "ingresses")
        }
        assert not any(left.values()), f"objects left behind: {left}"
        deadline = time.monotonic() + 15
        while api.live_processes() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not api.live_processes(), "processes of deleted pods still run"
    finally:
        api.stop()
        contexts.reset_clients()
        reset_registry()
