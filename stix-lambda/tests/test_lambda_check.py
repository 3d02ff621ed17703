"""``stix check lambda``: where the key was found, whether Lambda took it, what to do otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lambda_fakes import API_KEY, FakeLambdaApi
from stix_lambda.credentials import check, find_key


def test_no_key_says_where_to_put_one(cli: Any) -> None:
    result = cli("check", "lambda")
    assert result.exit_code == 1
    assert (
        "lambda: disabled - no API key in $LAMBDA_API_KEY or ~/.lambda_cloud/lambda_keys"
        in result.stdout
    )
    assert "fix: create an API key" in result.stdout and "lambda_keys" in result.stdout


def test_key_file_is_read_and_accepted(
    cloud: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    keys = Path.home() / ".lambda_cloud" / "lambda_keys"
    keys.parent.mkdir()
    keys.write_text(f"# Lambda Cloud\napi_key = {API_KEY}\n")
    assert find_key() == (API_KEY, "~/.lambda_cloud/lambda_keys")
    with FakeLambdaApi(cloud) as api:
        monkeypatch.setenv("STIX_LAMBDA_API_URL", api.api_url)
        result = check()
    assert result.ok and result.detail == "API key from ~/.lambda_cloud/lambda_keys"
    assert ("GET", "/api/v1/ssh-keys") in api.calls


def test_env_key_wins_and_a_rejected_key_is_reported(
    cloud: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = Path.home() / ".lambda_cloud" / "lambda_keys"
    keys.parent.mkdir()
    keys.write_text(f"api_key = {API_KEY}\n")
    monkeypatch.setenv("LAMBDA_API_KEY", "secret_revoked")
    with FakeLambdaApi(cloud) as api:
        monkeypatch.setenv("STIX_LAMBDA_API_URL", api.api_url)
        result = check()
    assert not result.ok
    assert result.detail == "Lambda rejected the key from $LAMBDA_API_KEY (global/invalid-api-key)"
    assert "secret_revoked" not in result.detail + str(result.hint)


def test_unreachable_api_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMBDA_API_KEY", API_KEY)
    result = check()  # STIX_LAMBDA_API_URL points at a closed port
    assert not result.ok and result.detail.startswith("cannot reach http://127.0.0.1:9/api/v1")
    assert result.hint and "STIX_LAMBDA_API_URL" in result.hint
