"""Where the Lambda Cloud API key comes from, and ``stix check lambda``.

Lambda's tools keep the key in ``~/.lambda_cloud/lambda_keys`` as a line
``api_key = <key>``; ``$LAMBDA_API_KEY`` wins over the file.
"""

from __future__ import annotations

import os
from pathlib import Path

from stix.errors import CredentialsError, ProvisionError
from stix.interfaces import CheckResult

from stix_lambda.api import CREDENTIALS_HINT

ENV_VAR = "LAMBDA_API_KEY"


def keys_file() -> Path:
    """``~/.lambda_cloud/lambda_keys``."""
    return Path.home() / ".lambda_cloud" / "lambda_keys"


def find_key() -> tuple[str, str] | None:
    """``(api key, where it was found)``, or ``None`` when there is none."""
    value = os.environ.get(ENV_VAR, "").strip()
    if value:
        return value, f"${ENV_VAR}"
    path = keys_file()
    try:
        text = path.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        name, sep, rest = line.partition("=")
        if sep and name.strip() == "api_key" and rest.strip():
            return rest.strip().strip("'\""), "~/.lambda_cloud/lambda_keys"
    return None


def api_key() -> str:
    """The API key; raises :class:`stix.errors.CredentialsError` when none is set."""
    found = find_key()
    if found is None:
        raise CredentialsError("lambda: no API key found", hint=CREDENTIALS_HINT)
    return found[0]


def check() -> CheckResult:
    """Find the key and list the account's SSH keys with it; never raises."""
    from stix_lambda.api import LambdaApi, LambdaApiError

    found = find_key()
    if found is None:
        return CheckResult(
            False, f"no API key in ${ENV_VAR} or ~/.lambda_cloud/lambda_keys", CREDENTIALS_HINT
        )
    key, where = found
    api = LambdaApi(key)
    try:
        api.get("/ssh-keys")
    except LambdaApiError as exc:
        return CheckResult(
            False,
            f"Lambda rejected the key from {where} ({exc.code or exc.status})",
            CREDENTIALS_HINT,
        )
    except ProvisionError as exc:  # the API cannot be reached
        return CheckResult(
            False, exc.message.removeprefix("lambda: "), "check the network or STIX_LAMBDA_API_URL"
        )
    return CheckResult(True, f"API key from {where}")


__all__ = ["ENV_VAR", "api_key", "check", "find_key", "keys_file"]
