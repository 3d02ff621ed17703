"""A small client of the Vast.ai REST API (``/api/v0``), and its errors mapped to STIX errors.

Reference: https://docs.vast.ai/api-reference (search offers ``POST /bundles/``,
create ``PUT /asks/{id}/``, ``GET /instances/``, ``PUT``/``DELETE /instances/{id}/``,
``/ssh/``). Failures are ``{"success": false, "error": <code>, "msg": <text>}``.
The base URL is ``$STIX_VAST_API_URL``, else ``vast.api_url`` in the config, else Vast's.
Requests go through :mod:`stix.rest` (the standard library).
"""

from __future__ import annotations

from typing import Any

from stix.errors import CredentialsError, NoCapacityError, ProvisionError, QuotaError

DEFAULT_URL = "https://console.vast.ai/api/v0"
CREDENTIALS_HINT = (
    "create an API key at https://cloud.vast.ai/manage-keys/ and save it with "
    "`vastai set api-key <key>` (it lands in ~/.vast_api_key), or export VAST_API_KEY=<key>"
)
# Vast's error codes, by what failover should do with them.
GONE_CODES = frozenset({"no_such_ask", "ask_not_available", "invalid_ask"})
QUOTA_CODES = frozenset({"insufficient_credit", "insufficient_funds", "max_instances"})
CREDENTIAL_CODES = frozenset({"not_authorized", "invalid_api_key", "auth_error"})


class VastApiError(Exception):
    """An error answer: HTTP status, Vast's error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.status = status
        self.code = code
        self.message = message

    @property
    def offer_gone(self) -> bool:
        """The offer was rented by someone else or withdrawn since it was found."""
        return self.code in GONE_CODES


def base_url() -> str:
    from stix.rest import base_url as configured

    return configured("STIX_VAST_API_URL", "vast.api_url", DEFAULT_URL)


class VastApi:
    """Calls to one Vast.ai account; each returns the decoded JSON answer."""

    def __init__(self, api_key: str, url: str | None = None) -> None:
        self._key = api_key
        self.url = url or base_url()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One request; raises :class:`VastApiError` for an error answer."""
        from stix.rest import request

        answer = request(method, f"{self.url}{path}", token=self._key, body=body, what="vast")
        info = answer.payload if isinstance(answer.payload, dict) else {}
        if not answer.ok or info.get("success") is False:
            raise VastApiError(
                answer.status,
                str(info.get("error") or ""),
                str(info.get("msg") or info.get("message") or answer.reason or "request failed"),
            )
        return answer.payload


def to_stix_error(exc: VastApiError, what: str) -> ProvisionError:
    """The STIX error for a failed call while doing ``what`` (``1x RTX 4090 in US``)."""
    text = f"vast: {what}: {exc.message}"
    if exc.code in CREDENTIAL_CODES or exc.status in (401, 403):
        return CredentialsError(text, hint=CREDENTIALS_HINT)
    if exc.offer_gone:
        return NoCapacityError(text, scope="instance_type")
    if exc.code in QUOTA_CODES or exc.status == 402:
        return QuotaError(text, hint="add credit at https://cloud.vast.ai/billing/", scope="cloud")
    return ProvisionError(text, scope="zone")


__all__ = [
    "CREDENTIALS_HINT",
    "DEFAULT_URL",
    "VastApi",
    "VastApiError",
    "base_url",
    "to_stix_error",
]
