"""``stix check gcp``: which Application Default Credentials are found, and for which project."""

from __future__ import annotations

from stix.errors import StixError
from stix.interfaces import CheckResult

from stix_gcp.session import CREDENTIALS_HINT, PROJECT_HINT


def identity(creds: object) -> str:
    """Who the credentials belong to, in words."""
    email = getattr(creds, "service_account_email", None)
    if email and email != "default":
        return f"service account {email}"
    if type(creds).__module__.startswith("google.oauth2.credentials"):
        account = getattr(creds, "account", "") or ""
        return f"user credentials{f' of {account}' if account else ''} (gcloud application-default login)"
    if "compute_engine" in type(creds).__module__:
        return "the VM's service account (metadata server)"
    return type(creds).__name__


def check() -> CheckResult:
    """Find ADC and the project, then read the project through the Compute API; never raises."""
    from stix_gcp.errors import classify, is_google_error
    from stix_gcp.session import compute, credentials, project_id

    try:
        creds, _adc_project = credentials()
    except StixError as exc:
        return CheckResult(False, exc.message.removeprefix("gcp: "), hint=CREDENTIALS_HINT)
    who = identity(creds)
    try:
        project = project_id()
    except StixError:
        return CheckResult(False, f"{who}, but no project is set", hint=PROJECT_HINT)
    try:
        found = compute("ProjectsClient").get(project=project, timeout=20)
    except Exception as exc:
        if not is_google_error(exc):
            raise
        problem = classify(exc, f"project {project}")
        return CheckResult(
            False,
            f"{who}: {problem.message.removeprefix('gcp: ')}",
            hint=problem.hint
            or "enable the Compute Engine API for the project: "
            "gcloud services enable compute.googleapis.com",
        )
    return CheckResult(True, f"{who}; project {found.name}")


__all__ = ["check", "identity"]
