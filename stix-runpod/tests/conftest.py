"""Fixtures for the RunPod tests: a fake RunPod GraphQL API on loopback backed by harness nodes.

The plugin's real HTTP client talks to :class:`runpod_fakes.FakeRunpodApi` through
``STIX_RUNPOD_API_URL``; nothing is patched. No test reads the user's real
``~/.runpod/config.toml`` or ``$RUNPOD_API_KEY``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from harness.fixtures import cloud, cloud_nodes
from runpod_fakes import API_KEY, FakeRunpodApi

__all__ = ["cloud", "cloud_nodes"]


@pytest.fixture(autouse=True)
def _no_real_runpod(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    monkeypatch.setenv("STIX_RUNPOD_API_URL", "http://127.0.0.1:9/graphql")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()


@pytest.fixture
def fake_runpod(
    cloud: object, stix_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeRunpodApi]:
    """The fake API with a key in the environment and ``ssh_user`` set to the harness user."""
    bridge = f"10.213.{cloud.slot}.1"  # type: ignore[attr-defined]  # nodes reach it too
    with FakeRunpodApi(cloud, host=bridge) as api:  # type: ignore[arg-type]
        monkeypatch.setenv("STIX_RUNPOD_API_URL", api.api_url)
        monkeypatch.setenv("RUNPOD_API_KEY", API_KEY)
        settings = {"runpod": {"ssh_user": cloud.user, "wait_seconds": 60}}  # type: ignore[attr-defined]
        (stix_home / "config.yaml").write_text(yaml.safe_dump(settings))
        yield api
        assert not api.pods, f"pods left on the fake: {sorted(api.pods)}"
        assert not api.errors, api.errors[0]
