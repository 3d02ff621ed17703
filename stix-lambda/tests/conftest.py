"""Fixtures for the Lambda tests: a fake Lambda Cloud API on loopback backed by harness nodes.

The plugin's real HTTP client talks to :class:`lambda_fakes.FakeLambdaApi` through
``STIX_LAMBDA_API_URL``; nothing is patched. No test reads the user's real
``~/.lambda_cloud`` or ``$LAMBDA_API_KEY``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from harness.fixtures import cloud, cloud_nodes, container_images, docker_cloud
from lambda_fakes import API_KEY, FakeLambdaApi

__all__ = ["cloud", "cloud_nodes", "container_images", "docker_cloud"]


@pytest.fixture(autouse=True)
def _no_real_lambda(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LAMBDA_API_KEY", raising=False)
    monkeypatch.setenv("STIX_LAMBDA_API_URL", "http://127.0.0.1:9/api/v1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()


@pytest.fixture
def fake_lambda(
    cloud: object, stix_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeLambdaApi]:
    """The fake API with a key in the environment and ``ssh_user`` set to the harness user.

    It listens on the harness bridge's host address, so the nodes reach it too (autodown
    runs on the head)."""
    bridge = f"10.213.{cloud.slot}.1"  # type: ignore[attr-defined]
    with FakeLambdaApi(cloud, host=bridge) as api:  # type: ignore[arg-type]
        monkeypatch.setenv("STIX_LAMBDA_API_URL", api.api_url)
        monkeypatch.setenv("LAMBDA_API_KEY", API_KEY)
        settings = {"lambda": {"ssh_user": cloud.user, "wait_seconds": 60}}  # type: ignore[attr-defined]
        (stix_home / "config.yaml").write_text(yaml.safe_dump(settings))
        yield api
        assert not api.instances, f"instances left on the fake: {sorted(api.instances)}"
        assert not api.errors, api.errors[0]
