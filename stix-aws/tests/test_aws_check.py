"""``stix check aws``: the identity and regions found, or exactly what is missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from stix_aws.credentials import check


def test_check_names_identity_source_and_regions(aws: str) -> None:
    result = check()
    assert result.ok, result.detail
    assert "arn:aws:sts::123456789012:user/moto" in result.detail
    assert "account 123456789012" in result.detail and "environment variables" in result.detail
    count = int(result.detail.split("; ")[1].split()[0])
    assert 10 < count < 38  # moto lists opt-in regions too; those not opted in are left out


def test_check_limited_to_configured_regions(aws: str, stix_home: Path) -> None:
    (stix_home / "config.yaml").write_text("aws:\n  regions: [eu-west-1, us-east-1]\n")
    result = check()
    assert result.ok and result.detail.endswith("2 regions enabled: eu-west-1, us-east-1")


def test_check_reads_a_profile_from_the_credentials_file(
    aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = tmp_path / "credentials"
    creds.write_text("[work]\naws_access_key_id = AKIDWORK\naws_secret_access_key = secret\n")
    with monkeypatch.context() as env:  # undone before the leak check runs
        env.delenv("AWS_ACCESS_KEY_ID")
        env.delenv("AWS_SECRET_ACCESS_KEY")
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
        env.setenv("AWS_PROFILE", "work")
        result = check()
    assert result.ok and "~/.aws/credentials, profile work" in result.detail


def test_check_without_credentials_says_what_is_missing(stix_home: Path) -> None:
    result = check()
    assert not result.ok
    assert result.detail.startswith("no AWS credentials found")
    assert result.hint and "aws configure" in result.hint


def test_check_with_an_unknown_profile(stix_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nope")
    result = check()
    assert not result.ok and "nope" in result.detail and result.hint


def test_stix_check_aws_cli(aws: str, cli: Any) -> None:
    done = cli("check", "aws")
    assert done.exit_code == 0, done.stderr
    assert "aws: enabled - arn:aws:sts::123456789012:user/moto" in done.stdout


def test_stix_check_aws_cli_disabled(cli: Any) -> None:
    done = cli("check", "aws")
    assert done.exit_code != 0
    assert "aws: disabled - no AWS credentials found" in done.stdout
    assert "fix: configure AWS credentials" in done.stdout
