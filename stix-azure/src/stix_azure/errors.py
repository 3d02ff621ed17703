"""Turn Azure errors into STIX's failover errors, each a one-line message.

Azure places a cluster in one region (the catalog has no zones), so capacity
errors (``SkuNotAvailable``, ``AllocationFailed``...) block the region tried and
failover moves to the next region; quota errors skip the region too, and say how to
raise the quota; authentication and authorization errors stop using Azure.
"""

from __future__ import annotations

import re

from stix.errors import CredentialsError, NoCapacityError, ProvisionError, QuotaError

from stix_azure.credentials import LOGIN_HINT

CAPACITY_CODES = {
    "SkuNotAvailable": "size not available in this region",
    "AllocationFailed": "no capacity",
    "ZonalAllocationFailed": "no capacity in the zone",
    "OverconstrainedAllocationRequest": "no capacity for the requested constraints",
    "OverconstrainedZonalAllocationRequest": "no capacity in the zone for the constraints",
    "AllocationFailedSpot": "no Spot capacity",
    "SpotMaxPriceTooLow": "Spot price above the maximum price",
    "OperationPreempted": "Spot capacity reclaimed while creating",
}
QUOTA_CODES = {
    "QuotaExceeded": "quota reached",
    "PublicIPCountLimitReached": "public IP quota reached",
    "NetworkQuotaExceeded": "network quota reached",
    "ResourceQuotaExceeded": "resource quota reached",
}
REGION_CODES = {
    "LocationNotAvailableForResourceType": "resource type not offered in this region",
    "NoRegisteredProviderFound": "resource provider not offered in this region",
    "InvalidLocation": "region name not valid",
    "DisallowedLocation": "region not allowed by policy",
    "RequestDisallowedByPolicy": "request denied by an Azure Policy",
    "ImageNotFound": "image not found in this region",
    "PlatformImageNotFound": "image not found in this region",
    "TooManyRequests": "API rate limit reached",
}
CREDENTIAL_CODES = {
    "AuthenticationFailed",
    "InvalidAuthenticationToken",
    "InvalidAuthenticationTokenTenant",
    "ExpiredAuthenticationToken",
    "AuthorizationFailed",
    "LinkedAuthorizationFailed",
    "SubscriptionNotFound",
    "InvalidSubscriptionId",
    "SubscriptionNotRegistered",
    "MissingSubscriptionRegistration",
    "ReadOnlyDisabledSubscription",
}
ABORT_CODES = {
    "InvalidParameter",
    "InvalidRequestContent",
    "InvalidTemplate",
    "BadRequest",
    "InvalidResourceName",
    "VMMarketplaceInvalidInput",
}
# OperationNotAllowed is Azure's answer to core, family and Spot quotas; elsewhere it is not.
_QUOTA_WORDS = re.compile(r"quota|cores|vcpu|limit", re.IGNORECASE)


def error_code(exc: BaseException) -> str | None:
    """The ARM error code of an ``HttpResponseError`` (the innermost informative one)."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    details = getattr(error, "details", None) or []
    if code in (None, "DeploymentFailed", "Conflict", "OperationFailed") and details:
        inner = getattr(details[0], "code", None)
        if inner:
            return str(inner)
    if code:
        return str(code)
    status = getattr(exc, "status_code", None)
    return {401: "AuthenticationFailed", 403: "AuthorizationFailed"}.get(status or 0)


def error_message(exc: BaseException) -> str:
    error = getattr(exc, "error", None)
    text = str(getattr(error, "message", None) or getattr(exc, "message", None) or exc)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= 200 else first[:197] + "..."


def to_provision_error(exc: BaseException, what: str) -> ProvisionError:
    """Map an azure-core exception to a :class:`ProvisionError` with the scope failover needs.

    :param what: the attempt, such as ``"Standard_NC6s_v3 (spot) in eastus"``.
    """
    from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError

    if isinstance(exc, ProvisionError):
        return exc
    code = error_code(exc)
    detail = error_message(exc)
    if isinstance(exc, ClientAuthenticationError) and code not in CAPACITY_CODES:
        return CredentialsError(f"azure: {what}: not authenticated ({detail})", hint=LOGIN_HINT)
    if isinstance(exc, ServiceRequestError):
        return ProvisionError(
            f"azure: {what}: cannot reach Azure Resource Manager ({detail})",
            hint="check the network and azure.resource_manager_endpoint",
            scope="cloud",
        )
    code = code or type(exc).__name__
    if code in CAPACITY_CODES:
        # no zones in the catalog: a capacity error blocks the region that was tried
        return NoCapacityError(f"azure: {what}: {CAPACITY_CODES[code]} ({code}: {detail})")
    if code in QUOTA_CODES or (code == "OperationNotAllowed" and _QUOTA_WORDS.search(detail)):
        return QuotaError(
            f"azure: {what}: {QUOTA_CODES.get(code, 'core quota reached')} ({code}: {detail})",
            hint="request more quota (Azure portal: Subscriptions > Usage + quotas), "
            "or use another region",
        )
    if code in REGION_CODES:
        return ProvisionError(
            f"azure: {what}: {REGION_CODES[code]} ({code}: {detail})", scope="region"
        )
    if code in CREDENTIAL_CODES:
        return CredentialsError(
            f"azure: {what}: access denied ({code}: {detail})",
            hint="the identity needs the Contributor role on the subscription; " + LOGIN_HINT,
        )
    if code in ABORT_CODES:
        return ProvisionError(f"azure: {what}: {code}: {detail}", scope="abort")
    return ProvisionError(f"azure: {what}: {code}: {detail}", scope="region")


__all__ = [
    "ABORT_CODES",
    "CAPACITY_CODES",
    "CREDENTIAL_CODES",
    "QUOTA_CODES",
    "REGION_CODES",
    "error_code",
    "error_message",
    "to_provision_error",
]
