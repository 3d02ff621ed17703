"""A small client of RunPod's GraphQL API, and its error messages mapped to STIX errors.

Reference: https://docs.runpod.io/sdks/graphql/manage-pods and the schema at
https://graphql-spec.runpod.io/. Every call is ``POST /graphql`` with a query and
variables; failures come back as ``{"errors": [{"message": ...}], "data": ...}``
(HTTP 200, or 4xx for bad requests and 401 for a bad key). The URL is
``$STIX_RUNPOD_API_URL``, else ``runpod.api_url`` in the config, else RunPod's.
Requests go through :mod:`stix.rest` (the standard library).
"""

from __future__ import annotations

from typing import Any

from stix.errors import CredentialsError, NoCapacityError, ProvisionError, QuotaError

DEFAULT_URL = "https://api.runpod.io/graphql"
CREDENTIALS_HINT = (
    "create an API key at https://www.runpod.io/console/user/settings and put "
    '`api_key = "<key>"` under [default] in ~/.runpod/config.toml (or export RUNPOD_API_KEY=<key>)'
)
# Phrases of RunPod's error messages, by what failover should do with them.
CAPACITY_PHRASES = (
    "no longer any instances available",
    "does not have the resources to deploy",
    "no instances currently available",
    "not enough free gpus",
)
QUOTA_PHRASES = ("balance is too low", "spend limit", "maximum number of pods", "quota")


class RunpodApiError(Exception):
    """An error answer: HTTP status and RunPod's first error message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def base_url() -> str:
    from stix.rest import base_url as configured

    return configured("STIX_RUNPOD_API_URL", "runpod.api_url", DEFAULT_URL)


class RunpodApi:
    """GraphQL calls for one RunPod account; :meth:`call` returns the answer's ``data``."""

    def __init__(self, api_key: str, url: str | None = None) -> None:
        self._key = api_key
        self.url = url or base_url()

    def call(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one query or mutation; raises :class:`RunpodApiError` when it reports errors."""
        from stix.rest import request

        body = {"query": query, "variables": variables or {}}
        answer = request("POST", self.url, token=self._key, body=body, what="runpod")
        payload = answer.payload if isinstance(answer.payload, dict) else {}
        errors = payload.get("errors")
        if not answer.ok or errors:
            first = errors[0] if isinstance(errors, list) and errors else {}
            message = first.get("message") if isinstance(first, dict) else None
            raise RunpodApiError(answer.status, str(message or answer.reason or "request failed"))
        data = payload.get("data")
        return data if isinstance(data, dict) else {}


def to_stix_error(exc: RunpodApiError, what: str) -> ProvisionError:
    """The STIX error for a failed call while doing ``what`` (``2x H100 in US-TX-3``)."""
    text = f"runpod: {what}: {exc.message}"
    lowered = exc.message.lower()
    if exc.status in (401, 403) or "unauthorized" in lowered or "api key" in lowered:
        return CredentialsError(text, hint=CREDENTIALS_HINT)
    if any(p in lowered for p in CAPACITY_PHRASES):
        return NoCapacityError(text, scope="instance_type")  # stock is per type and place
    if any(p in lowered for p in QUOTA_PHRASES):
        return QuotaError(
            text, hint="add funds or raise the limit in the RunPod console", scope="cloud"
        )
    return ProvisionError(text, scope="zone")


__all__ = [
    "CREDENTIALS_HINT",
    "DEFAULT_URL",
    "RunpodApi",
    "RunpodApiError",
    "base_url",
    "to_stix_error",
]
