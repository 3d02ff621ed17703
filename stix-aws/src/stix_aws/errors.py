"""Turn AWS errors into STIX's failover errors, each a one-line message.

Zone-level errors (no capacity, type not offered in the zone) try the next
zone; quota errors skip the region; credential errors stop using AWS and say
how to fix them. Anything unknown blocks only the zone that was tried.
"""

from __future__ import annotations

from stix.errors import CredentialsError, NoCapacityError, ProvisionError, QuotaError

CREDENTIALS_HINT = (
    "configure AWS credentials (aws configure, aws sso login, or AWS_PROFILE), then: stix check aws"
)

ZONE_CODES = {
    "InsufficientInstanceCapacity": "no capacity",
    "InsufficientHostCapacity": "no capacity",
    "InsufficientCapacity": "no capacity",
    "InsufficientReservedInstanceCapacity": "no capacity",
    "InsufficientFreeAddressesInSubnet": "no free addresses in the subnet",
    "SpotMaxPriceTooLow": "spot price above the maximum price",
    "capacity-not-available": "no spot capacity",
    "Unsupported": "not offered in this zone",
    "InvalidSubnetID.NotFound": "subnet not found",
}
QUOTA_CODES = {
    "VcpuLimitExceeded": "vCPU quota reached",
    "InstanceLimitExceeded": "instance quota reached",
    "MaxSpotInstanceCountExceeded": "spot instance quota reached",
    "VolumeLimitExceeded": "EBS volume quota reached",
    "AddressLimitExceeded": "address quota reached",
}
REGION_CODES = {
    "PendingVerification": "account verification pending in this region",
    "OptInRequired": "region not enabled for this account",
    "InvalidAMIID.NotFound": "image not found in this region",
    "InvalidAMIID.Malformed": "image id is malformed",
    "RequestLimitExceeded": "API rate limit reached",
    "VPCIdNotSpecified": "no default VPC in this region",
}
CREDENTIAL_CODES = {
    "AuthFailure",
    "UnauthorizedOperation",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "AccessDenied",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
}
ABORT_CODES = {
    "InvalidParameterValue",
    "InvalidParameterCombination",
    "InvalidParameter",
    "InvalidParameterDependency",
    "MissingParameter",
    "InvalidInstanceType",
    "InvalidKeyPair.Format",
}


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (else ``None``)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        return str(code) if code else None
    return None


def _aws_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    text = ""
    if isinstance(response, dict):
        text = str((response.get("Error") or {}).get("Message") or "")
    text = text or str(exc)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= 160 else first[:157] + "..."


def to_provision_error(exc: BaseException, what: str) -> ProvisionError:
    """Map an AWS/botocore exception to a :class:`ProvisionError` with the right scope.

    :param what: the attempt, such as ``"m6i.large (spot) in us-east-1a"``.
    """
    from botocore import exceptions as bexc

    if isinstance(exc, (bexc.NoCredentialsError, bexc.PartialCredentialsError)):
        return CredentialsError(f"aws: no credentials found for {what}", hint=CREDENTIALS_HINT)
    if isinstance(exc, (bexc.TokenRetrievalError, bexc.SSOError)):
        return CredentialsError(f"aws: {what}: SSO session expired", hint="run: aws sso login")
    if isinstance(exc, (bexc.EndpointConnectionError, bexc.ConnectTimeoutError)):
        return ProvisionError(
            f"aws: {what}: cannot reach the EC2 endpoint ({_aws_message(exc)})",
            hint="check the network and the region name",
            scope="region",
        )
    code = error_code(exc) or type(exc).__name__
    detail = _aws_message(exc)
    if code in ZONE_CODES:
        return NoCapacityError(f"aws: {what}: {ZONE_CODES[code]} ({code}: {detail})")
    if code in QUOTA_CODES:
        return QuotaError(
            f"aws: {what}: {QUOTA_CODES[code]} ({code}: {detail})",
            hint="request a quota increase in the Service Quotas console, or use another region",
        )
    if code in REGION_CODES:
        return ProvisionError(
            f"aws: {what}: {REGION_CODES[code]} ({code}: {detail})", scope="region"
        )
    if code in CREDENTIAL_CODES:
        return CredentialsError(
            f"aws: {what}: credentials rejected ({code}: {detail})", hint=CREDENTIALS_HINT
        )
    if code in ABORT_CODES:
        return ProvisionError(f"aws: {what}: {code}: {detail}", scope="abort")
    return ProvisionError(f"aws: {what}: {code}: {detail}", scope="zone")


__all__ = [
    "CREDENTIALS_HINT",
    "CREDENTIAL_CODES",
    "QUOTA_CODES",
    "REGION_CODES",
    "ZONE_CODES",
    "error_code",
    "to_provision_error",
]
