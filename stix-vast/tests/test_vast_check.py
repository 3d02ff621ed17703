"""``stix check vast``: the key from $VAST_API_KEY or the vastai CLI's files, and whose it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from stix_vast.credentials import check, find_key
from vast_fakes import API_KEY, FakeVastApi


def test_no_key_says_where_to_put_one(cli: Any) -> None:
    result = cli("check", "vast")
    assert result.exit_code == 1
    assert "vast: disabled - no API key in $VAST_API_KEY or ~/.vast_api_key" in result.stdout
    assert "vastai set api-key" in result.stdout


@pytest.mark.parametrize("where", ["~/.vast_api_key", "~/.config/vastai/vast_api_key"])
def test_key_files_of_the_cli_are_read(
    where: str, cloud: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = Path(where.replace("~", str(Path.home())))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(API_KEY + "\n")
    assert find_key() == (API_KEY, where)
    with FakeVastApi(cloud) as api:
        monkeypatch.setenv("STIX_VAST_API_URL", api.api_url)
        result = check()
    assert result.ok and result.detail == f"dev@example.com (API key from {where}, credit $12.50)"


def test_rejected_key_is_reported_without_the_key(
    cloud: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAST_API_KEY", "revoked0key")
    with FakeVastApi(cloud) as api:
        monkeypatch.setenv("STIX_VAST_API_URL", api.api_url)
        result = check()
    assert (
        not result.ok
        and result.detail == "Vast.ai rejected the key from $VAST_API_KEY (not_authorized)"
    )
    assert "revoked0key" not in result.detail + str(result.hint)
