"""Who the user is on Azure: the credential chain, the subscription, and ``stix check azure``.

Credentials come from ``DefaultAzureCredential`` (environment, workload or managed
identity, Azure CLI login, ...). The subscription is ``azure.subscription_id`` in the
config, else ``AZURE_SUBSCRIPTION_ID``, else the Azure CLI's default subscription
(``isDefault`` in ``~/.azure/azureProfile.json``, or ``$AZURE_CONFIG_DIR``).
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from stix.errors import CredentialsError
from stix.interfaces import CheckResult

LOGIN_HINT = "run: az login (or set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET)"
SUBSCRIPTION_HINT = (
    "run: az account set --subscription <id>, or set azure.subscription_id in ~/.stix/config.yaml"
)


def _setting(key: str, default: Any = None) -> Any:
    from stix.config import load_config

    return load_config().get(f"azure.{key}", default)


def cli_dir() -> Path:
    """The Azure CLI's folder (``$AZURE_CONFIG_DIR``, default ``~/.azure``)."""
    value = os.environ.get("AZURE_CONFIG_DIR")
    return Path(value).expanduser() if value else Path.home() / ".azure"


def cli_default_subscription() -> dict[str, Any] | None:
    """The CLI's default subscription entry (``id``, ``name``, ``tenantId``...), or ``None``."""
    path = cli_dir() / "azureProfile.json"
    try:
        # the CLI writes this file with a byte-order mark
        profile = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return None
    for sub in profile.get("subscriptions") or []:
        if isinstance(sub, dict) and sub.get("isDefault") and sub.get("id"):
            return sub
    return None


def subscription() -> tuple[str, str]:
    """``(subscription id, where it came from)``.

    :raises stix.errors.CredentialsError: no subscription is configured anywhere.
    """
    configured = _setting("subscription_id")
    if configured:
        return str(configured), "azure.subscription_id"
    env = os.environ.get("AZURE_SUBSCRIPTION_ID")
    if env:
        return env, "AZURE_SUBSCRIPTION_ID"
    default = cli_default_subscription()
    if default:
        label = f"the Azure CLI default ({default.get('name') or default['id']})"
        return str(default["id"]), label
    raise CredentialsError("azure: no subscription selected", hint=SUBSCRIPTION_HINT)


def subscription_id() -> str:
    return subscription()[0]


def credential() -> Any:
    """The credential every client uses: ``DefaultAzureCredential`` (cached per process)."""
    global _CREDENTIAL
    if _CREDENTIAL is None:
        from azure.identity import DefaultAzureCredential

        _CREDENTIAL = DefaultAzureCredential()
    return _CREDENTIAL


_CREDENTIAL: Any = None


def reset() -> None:
    """Forget the cached credential (a new login or environment takes effect)."""
    global _CREDENTIAL
    _CREDENTIAL = None


def token_claims(token: str) -> dict[str, Any]:
    """The (unverified) claims of a JWT access token; ``{}`` when it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    body = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(body))
    except (ValueError, TypeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def identity(claims: dict[str, Any]) -> str:
    """Words for who a token belongs to: a user name, else an application or object id."""
    for key in ("upn", "unique_name", "preferred_username", "email"):
        if claims.get(key):
            return f"user {claims[key]}"
    if claims.get("appid"):
        return f"application {claims['appid']}"
    if claims.get("oid"):
        return f"identity {claims['oid']}"
    return "an unnamed identity"


def check() -> CheckResult:
    """Get a management token, then find and read the subscription; never raises."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

    from stix_azure.session import management_scope, resource_client

    try:
        token = credential().get_token(management_scope())
    except ClientAuthenticationError as exc:
        first = (str(exc).strip().splitlines() or ["no credential found"])[0]
        return CheckResult(False, f"no usable Azure credential: {first[:200]}", hint=LOGIN_HINT)
    except Exception as exc:  # a broken credential chain must not take `stix check` down
        return CheckResult(False, f"cannot get an Azure token: {exc}", hint=LOGIN_HINT)
    claims = token_claims(token.token)
    who = identity(claims)
    tenant = claims.get("tid")
    try:
        sub, source = subscription()
    except CredentialsError as exc:
        return CheckResult(
            False, f"signed in as {who}, but {exc.message[len('azure: ') :]}", hint=exc.hint
        )
    try:
        groups = resource_client(sub).resource_groups.list(top=1)
        next(iter(groups), None)
    except ClientAuthenticationError as exc:
        return CheckResult(False, f"Azure rejected {who}: {exc.message}", hint=LOGIN_HINT)
    except HttpResponseError as exc:
        code = getattr(exc.error, "code", None) or exc.status_code
        return CheckResult(
            False,
            f"{who} cannot use subscription {sub} (from {source}): {code}",
            hint="ask for the Contributor role on the subscription, or " + SUBSCRIPTION_HINT,
        )
    except Exception as exc:
        return CheckResult(
            False, f"cannot reach Azure Resource Manager: {exc}", hint="check the network"
        )
    where = f" in tenant {tenant}" if tenant else ""
    return CheckResult(True, f"{who}{where}; subscription {sub} (from {source})")


__all__ = [
    "LOGIN_HINT",
    "SUBSCRIPTION_HINT",
    "check",
    "cli_default_subscription",
    "credential",
    "identity",
    "reset",
    "subscription",
    "subscription_id",
    "token_claims",
]
