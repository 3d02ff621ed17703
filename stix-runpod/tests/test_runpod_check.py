"""``stix check runpod``: the key from ~/.runpod/config.toml or $RUNPOD_API_KEY, and whose it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from runpod_fakes import API_KEY, FakeRunpodApi
from stix_runpod.credentials import check, find_key


def test_no_key_says_where_to_put_one(cli: Any) -> None:
    result = cli("check", "runpod")
    assert result.exit_code == 1
    assert (
        "runpod: disabled - no API key in $RUNPOD_API_KEY or ~/.runpod/config.toml" in result.stdout
    )
    assert "fix: create an API key" in result.stdout


def test_config_toml_is_read_and_the_account_named(
    cloud: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = Path.home() / ".runpod" / "config.toml"
    path.parent.mkdir()
    path.write_text(f'[default]\napi_key = "{API_KEY}"\n')
    assert find_key() == (API_KEY, "~/.runpod/config.toml")
    with FakeRunpodApi(cloud) as api:
        monkeypatch.setenv("STIX_RUNPOD_API_URL", api.api_url)
        result = check()
    assert result.ok and result.detail == "dev@example.com (API key from ~/.runpod/config.toml)"


def test_rejected_env_key_is_reported_without_the_key(
    cloud: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNPOD_API_KEY", "rpa_REVOKED")
    with FakeRunpodApi(cloud) as api:
        monkeypatch.setenv("STIX_RUNPOD_API_URL", api.api_url)
        result = check()
    assert (
        not result.ok
        and result.detail == "RunPod rejected the key from $RUNPOD_API_KEY (Unauthorized)"
    )
    assert "rpa_REVOKED" not in result.detail + str(result.hint)


def test_broken_toml_counts_as_no_key() -> None:
    path = Path.home() / ".runpod" / "config.toml"
    path.parent.mkdir()
    path.write_text("[default\napi_key = \n")
    assert find_key() is None
