"""``stix check azure``: the identity and subscription found, or what is missing and the fix.

The credential chain is the real ``DefaultAzureCredential`` (its Azure CLI step, with a fake
``az`` on ``PATH``); the subscription is checked by listing resource groups on the fake ARM.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from azure_fakes import SUBSCRIPTION, TENANT

from conftest import USER, write_config


def test_names_identity_tenant_and_subscription(arm: Any, cli: Any) -> None:
    result = cli("check", "azure")
    assert result.exit_code == 0, result.stderr
    out = result.stdout + result.stderr
    assert f"user {USER}" in out and TENANT in out
    assert f"subscription {SUBSCRIPTION} (from azure.subscription_id)" in out


def test_subscription_from_the_cli_default(arm: Any, stix_home: Path) -> None:
    from stix_azure.credentials import check

    write_config(stix_home, subscription_id=None)
    profile = {
        "installationId": "x",
        "subscriptions": [
            {"id": "other", "name": "Other", "isDefault": False, "tenantId": TENANT},
            {"id": SUBSCRIPTION, "name": "Research", "isDefault": True, "tenantId": TENANT},
        ],
    }
    folder = Path(__import__("os").environ["AZURE_CONFIG_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    # the Azure CLI writes this file with a byte-order mark
    (folder / "azureProfile.json").write_text(json.dumps(profile), encoding="utf-8-sig")
    result = check()
    assert result.ok, result.detail
    assert "the Azure CLI default (Research)" in result.detail


def test_not_logged_in_says_how_to_log_in(arm: Any, fake_bin: Path) -> None:
    from stix_azure.credentials import check

    (fake_bin / "az").unlink()  # no Azure CLI, no environment credential, no managed identity
    result = check()
    assert not result.ok
    assert "no usable Azure credential" in result.detail
    assert "az login" in str(result.hint)


def test_expired_login_is_reported(arm: Any, fake_bin: Path) -> None:
    from stix_azure.credentials import check

    from conftest import write_fake_az

    write_fake_az(
        fake_bin, fail="ERROR: AADSTS700082: The refresh token has expired. Run 'az login'."
    )
    result = check()
    assert not result.ok and "az login" in str(result.hint)


def test_no_subscription_says_how_to_pick_one(arm: Any, stix_home: Path) -> None:
    from stix_azure.credentials import check

    write_config(stix_home, subscription_id=None)
    result = check()
    assert not result.ok
    assert result.detail == f"signed in as user {USER}, but no subscription selected"
    assert "az account set" in str(result.hint)


def test_unknown_subscription_is_named(arm: Any, stix_home: Path) -> None:
    from stix_azure.credentials import check

    write_config(stix_home, subscription_id="99999999-0000-0000-0000-000000000000")
    result = check()
    assert not result.ok
    assert "99999999-0000-0000-0000-000000000000" in result.detail
    assert "SubscriptionNotFound" in result.detail


def test_missing_role_is_named_by_check_and_stops_provisioning(arm: Any) -> None:
    import pytest
    from stix.errors import CredentialsError
    from stix_azure.credentials import check
    from stix_azure.provisioner import AzureProvisioner
    from test_azure_provisioner import make_config

    arm.forbidden = True
    result = check()
    assert not result.ok and "AuthorizationFailed" in result.detail
    assert "Contributor" in str(result.hint)
    with pytest.raises(CredentialsError, match="access denied") as info:
        AzureProvisioner().bootstrap(make_config("denied"))
    assert info.value.scope == "cloud" and "Contributor" in str(info.value.hint)
