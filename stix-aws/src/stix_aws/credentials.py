"""``stix check aws``: whose credentials boto3 finds, and which regions they can use."""

from __future__ import annotations

from stix.interfaces import CheckResult

from stix_aws.errors import CREDENTIALS_HINT, error_code

# botocore's names for where credentials came from, in words.
_SOURCES = {
    "env": "environment variables",
    "shared-credentials-file": "~/.aws/credentials",
    "config-file": "~/.aws/config",
    "sso": "AWS SSO",
    "assume-role": "an assumed role",
    "assume-role-with-web-identity": "web identity",
    "iam-role": "the instance role",
    "container-role": "the container role",
    "custom-process": "a credential process",
}


def _regions(given: list[str] | None) -> list[str]:
    from stix.config import load_config

    from stix_aws.session import client

    configured = given or load_config().get("aws.regions")
    if configured:
        return [str(r) for r in configured]
    found = client("ec2", fast=True).describe_regions()["Regions"]
    return sorted(r["RegionName"] for r in found if r.get("OptInStatus") != "not-opted-in")


def check(regions: list[str] | None = None) -> CheckResult:
    """Find credentials through boto3's chain and ask STS who they belong to; never raises."""
    from botocore import exceptions as bexc

    from stix_aws.session import client, session

    try:
        sess = session()
        creds = sess.get_credentials()
    except bexc.ProfileNotFound as exc:
        return CheckResult(
            False, f"AWS profile not found: {exc}", hint="fix AWS_PROFILE or ~/.aws/config"
        )
    except Exception as exc:
        return CheckResult(False, f"cannot read AWS credentials: {exc}", hint=CREDENTIALS_HINT)
    if creds is None:
        return CheckResult(
            False,
            "no AWS credentials found (environment, ~/.aws, AWS_PROFILE, SSO or instance role)",
            hint=CREDENTIALS_HINT,
        )
    source = _SOURCES.get(getattr(creds, "method", ""), getattr(creds, "method", "unknown source"))
    profile = sess.profile_name if sess.profile_name != "default" else None
    where = f"{source}" + (f", profile {profile}" if profile else "")
    try:
        who = client("sts", fast=True).get_caller_identity()
        names = _regions(regions)
    except (bexc.TokenRetrievalError, bexc.SSOError):
        return CheckResult(False, f"AWS SSO session expired ({where})", hint="run: aws sso login")
    except bexc.ClientError as exc:
        code = error_code(exc) or "error"
        return CheckResult(
            False, f"AWS rejected the credentials from {where} ({code})", hint=CREDENTIALS_HINT
        )
    except (bexc.EndpointConnectionError, bexc.ConnectTimeoutError, bexc.ReadTimeoutError) as exc:
        return CheckResult(
            False, f"cannot reach AWS: {exc}", hint="check the network or AWS_ENDPOINT_URL"
        )
    except bexc.BotoCoreError as exc:
        return CheckResult(False, f"AWS check failed: {exc}", hint=CREDENTIALS_HINT)
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return CheckResult(
        True,
        f"{who.get('Arn')} (account {who.get('Account')}, from {where}); "
        f"{len(names)} regions enabled: {shown}",
    )


__all__ = ["check"]
