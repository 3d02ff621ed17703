"""Turn Google API errors into STIX's failover errors, each a one-line message.

Compute Engine reports a failed create either at once (an HTTP error whose body
has ``error.errors[].reason``) or in the finished operation (``error.errors[].code``
such as ``ZONE_RESOURCE_POOL_EXHAUSTED`` with ``httpErrorStatusCode``). Capacity and
zone-specific refusals try the next zone; regional quotas skip the region; global
quotas (``... globally``) and credential or permission errors skip GCP.
"""

from __future__ import annotations

import re

from stix.errors import CredentialsError, NoCapacityError, ProvisionError, QuotaError

from stix_gcp.session import CREDENTIALS_HINT

ZONE_CODES = {
    "ZONE_RESOURCE_POOL_EXHAUSTED": "no capacity",
    "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS": "no capacity",
    "RESOURCE_POOL_EXHAUSTED": "no capacity",
    "STOCKOUT": "no capacity",
    "RESOURCE_EXHAUSTED": "no capacity",
    "UNSUPPORTED_OPERATION": "not supported in this zone",
    "RESOURCE_NOT_READY": "zone resources not ready",
    "NOT_FOUND_IN_ZONE": "not offered in this zone",
}
QUOTA_CODES = {"QUOTA_EXCEEDED", "quotaExceeded", "QUOTA_LIMIT"}
RATE_CODES = {"rateLimitExceeded", "RATE_LIMIT_EXCEEDED", "userRateLimitExceeded"}
PERMISSION_CODES = {
    "forbidden",
    "PERMISSION_DENIED",
    "insufficientPermissions",
    "accessNotConfigured",
}
AUTH_CODES = {"authError", "UNAUTHENTICATED", "required"}
_IN_ZONE = re.compile(
    r"(does not exist in zone|not available in zone|not supported in zone|"
    r"is not supported in the zone|not available in the zone)",
    re.IGNORECASE,
)
_GLOBAL_QUOTA = re.compile(r"\bglobally\b|_ALL_REGIONS", re.IGNORECASE)
_QUOTA_NAME = re.compile(r"Quota '([A-Z0-9_]+)'")


def details(exc: BaseException) -> list[tuple[str, str]]:
    """``(code or reason, message)`` pairs carried by a google.api_core exception."""
    found: list[tuple[str, str]] = []
    for item in getattr(exc, "errors", None) or ():
        if isinstance(item, dict):
            code = str(item.get("code") or item.get("reason") or "")
            found.append((code, str(item.get("message") or "")))
        else:
            code = str(getattr(item, "code", "") or getattr(item, "reason", "") or "")
            found.append((code, str(getattr(item, "message", "") or "")))
    reason = getattr(exc, "reason", None)
    if reason:
        found.append((str(reason), ""))
    return found


def _first_line(text: str) -> str:
    text = text.strip()
    first = text.splitlines()[0] if text else ""
    return first if len(first) <= 200 else first[:197] + "..."


def classify(exc: BaseException, what: str) -> ProvisionError:
    """A :class:`ProvisionError` whose scope drives failover, for a Google API exception.

    :param what: the attempt, such as ``"g2-standard-4 (spot) in us-east4-a"``.
    """
    from google.auth import exceptions as aexc

    if isinstance(exc, aexc.DefaultCredentialsError):
        return CredentialsError(f"gcp: no credentials for {what}", hint=CREDENTIALS_HINT)
    if isinstance(exc, aexc.RefreshError):
        return CredentialsError(
            f"gcp: {what}: credentials could not be refreshed ({_first_line(str(exc))})",
            hint=CREDENTIALS_HINT,
        )
    if type(exc).__module__.startswith("requests."):
        return ProvisionError(
            f"gcp: {what}: cannot reach the Google API ({_first_line(str(exc))})",
            hint="check the network (or gcp.endpoint in the config)",
            scope="cloud",
        )
    pairs = details(exc)
    codes = [c for c, _m in pairs if c]
    message = next((m for _c, m in pairs if m), "") or str(getattr(exc, "message", "") or exc)
    return decide(codes or [type(exc).__name__], message, what, exc)


def decide(
    codes: list[str], message: str, what: str, exc: BaseException | None = None
) -> ProvisionError:
    """The failover error for error ``codes`` (reasons) and ``message`` of one attempt."""
    from google.api_core import exceptions as gexc

    detail = _first_line(message)
    code = codes[0] if codes else "error"
    text = f"({code}: {detail})"
    for c in codes:
        if c in ZONE_CODES:
            return NoCapacityError(f"gcp: {what}: {ZONE_CODES[c]} {text}")
    if any(c in QUOTA_CODES for c in codes) or "Quota '" in message:
        name = _QUOTA_NAME.search(message)
        quota = f"quota {name.group(1)} reached" if name else "quota reached"
        hint = "request a quota increase on the IAM & Admin > Quotas page, or use another region"
        if _GLOBAL_QUOTA.search(message):
            return QuotaError(
                f"gcp: {what}: {quota} in every region {text}", hint=hint, scope="cloud"
            )
        return QuotaError(f"gcp: {what}: {quota} {text}", hint=hint)
    if any(c in RATE_CODES for c in codes) or isinstance(exc, gexc.TooManyRequests):
        return ProvisionError(f"gcp: {what}: API rate limit reached {text}", scope="region")
    if isinstance(exc, gexc.Unauthenticated) or any(c in AUTH_CODES for c in codes):
        return CredentialsError(f"gcp: {what}: credentials rejected {text}", hint=CREDENTIALS_HINT)
    if isinstance(exc, gexc.Forbidden) or any(c in PERMISSION_CODES for c in codes):
        return CredentialsError(
            f"gcp: {what}: permission denied {text}",
            hint="grant the account roles/compute.admin and roles/iam.serviceAccountUser "
            "on the project (see the stix-gcp README)",
        )
    if _IN_ZONE.search(message):
        return NoCapacityError(f"gcp: {what}: not offered in this zone {text}")
    if isinstance(exc, gexc.ServiceUnavailable):
        return NoCapacityError(f"gcp: {what}: service unavailable {text}")
    if isinstance(exc, gexc.NotFound):
        return ProvisionError(f"gcp: {what}: not found {text}", scope="region")
    if isinstance(exc, gexc.BadRequest) or "INVALID_ARGUMENT" in codes:
        return ProvisionError(f"gcp: {what}: rejected {text}", scope="abort")
    return ProvisionError(f"gcp: {what}: {code}: {detail}", scope="zone")


def is_google_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from the Google client libraries."""
    return type(exc).__module__.startswith(("google.", "requests."))


__all__ = ["ZONE_CODES", "classify", "decide", "details", "is_google_error"]
