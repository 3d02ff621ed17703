"""A small client of the Lambda Cloud REST API v1, and its error codes mapped to STIX errors.

Reference: https://docs-api.lambda.ai/api/cloud (``/api/v1``). Every answer is
``{"data": ...}``; failures are ``{"error": {"code", "message", "suggestion"}}``.
The base URL is ``$STIX_LAMBDA_API_URL``, else ``lambda.api_url`` in the config,
else Lambda's own. Requests go through :mod:`stix.rest` (the standard library).
"""

from __future__ import annotations

from typing import Any

from stix.errors import CredentialsError, NoCapacityError, ProvisionError, QuotaError

DEFAULT_URL = "https://cloud.lambdalabs.com/api/v1"
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
    from stix.rest import base_url as configured

    return configured("STIX_LAMBDA_API_URL", "lambda.api_url", DEFAULT_URL)


class LambdaApi:
    """Calls to one Lambda Cloud account; each returns the answer's ``data``."""

    def __init__(self, api_key: str, url: str | None = None) -> None:
        self._key = api_key
        self.url = url or base_url()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One request; raises :class:`LambdaApiError` for an error answer."""
        from stix.rest import request

        answer = request(method, f"{self.url}{path}", token=self._key, body=body, what="lambda")
        payload = answer.payload if isinstance(answer.payload, dict) else {}
        if not answer.ok:
            error = payload.get("error")
            error = error if isinstance(error, dict) else {}
            raise LambdaApiError(
                answer.status,
                str(error.get("code") or ""),
                str(error.get("message") or answer.reason or "request failed"),
            )
        return payload.get("data")

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
