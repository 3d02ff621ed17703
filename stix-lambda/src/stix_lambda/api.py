"""A small client of the Lambda Cloud REST API v1, and its error codes mapped to STIX errors.

Reference: https://docs-api.lambda.ai/api/cloud (``/api/v1``). Every answer is
``{"data": ...}``; failures are ``{"error": {"code", "message", "suggestion"}}``.
The base URL is ``$STIX_LAMBDA_API_URL``, else ``lambda.api_url`` in the config,
else Lambda's own. ``requests`` is imported when the first call is made.
"""

from __future__ import annotations

import os
from typing import Any

from stix.errors import CredentialsError, NoCapacityError, ProvisionError, QuotaError

DEFAULT_URL = "https://cloud.lambdalabs.com/api/v1"
TIMEOUT_S = 60.0
CREDENTIALS_HINT = (
    "create an API key at https://cloud.lambda.ai/api-keys and put `api_key = <key>` in "
    "~/.lambda_cloud/lambda_keys (or export LAMBDA_API_KEY=<key>)"
)

# Error codes the API documents, by what failover should do with them.
CAPACITY_CODES = frozenset({"instance-operations/launch/insufficient-capacity"})
QUOTA_CODES = frozenset({"global/quota-exceeded"})
CREDENTIAL_CODES = frozenset({"global/invalid-api-key", "global/account-inactive"})


class LambdaApiError(Exception):
    """An error answer of the API: HTTP status, Lambda's error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.status = status
        self.code = code
        self.message = message


def base_url() -> str:
    """The API's base URL, without a trailing slash."""
    url = os.environ.get("STIX_LAMBDA_API_URL")
    if not url:
        from stix.config import load_config

        url = load_config().get("lambda.api_url") or DEFAULT_URL
    return str(url).rstrip("/")


class LambdaApi:
    """Calls to one Lambda Cloud account; each returns the answer's ``data``."""

    def __init__(self, api_key: str, url: str | None = None) -> None:
        self._key = api_key
        self.url = url or base_url()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One request; raises :class:`LambdaApiError` for an error answer."""
        import requests

        try:
            resp = requests.request(
                method,
                f"{self.url}{path}",
                json=body,
                headers={"Authorization": f"Bearer {self._key}", "Accept": "application/json"},
                timeout=TIMEOUT_S,
            )
        except requests.RequestException as exc:
            raise ProvisionError(
                f"lambda: cannot reach {self.url}: {type(exc).__name__}", scope="cloud"
            ) from exc
        try:
            payload = resp.json()
        except ValueError:
            payload = {}
        if resp.status_code >= 400:
            error = payload.get("error") if isinstance(payload, dict) else None
            error = error if isinstance(error, dict) else {}
            raise LambdaApiError(
                resp.status_code,
                str(error.get("code") or ""),
                str(error.get("message") or resp.reason or "request failed"),
            )
        return payload.get("data") if isinstance(payload, dict) else None

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: Any) -> Any:
        return self.call("POST", path, body)


def to_stix_error(exc: LambdaApiError, what: str) -> ProvisionError:
    """The STIX error for an API failure while doing ``what`` (``gpu_8x_a100 in us-east-1``)."""
    text = f"lambda: {what}: {exc.message}"
    if exc.code in CAPACITY_CODES:
        return NoCapacityError(text, scope="instance_type")  # stock is per type and place
    if exc.code in QUOTA_CODES:
        # Lambda's instance quota is per account, not per region.
        return QuotaError(text, hint="ask Lambda support to raise the quota", scope="cloud")
    if exc.code in CREDENTIAL_CODES or exc.status in (401, 403):
        return CredentialsError(text, hint=CREDENTIALS_HINT)
    return ProvisionError(text, scope="zone")


__all__ = [
    "CREDENTIALS_HINT",
    "DEFAULT_URL",
    "LambdaApi",
    "LambdaApiError",
    "base_url",
    "to_stix_error",
]
