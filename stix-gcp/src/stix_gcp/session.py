"""Google credentials, the project, and Compute Engine / REST clients, created lazily.

Credentials are Application Default Credentials: ``GOOGLE_APPLICATION_CREDENTIALS``
(a service-account key or an authorized-user file), the file written by
``gcloud auth application-default login``, or the metadata server on a VM. The
project is ``gcp.project_id`` from the config, else ``GOOGLE_CLOUD_PROJECT`` /
``CLOUDSDK_CORE_PROJECT``, else the one ADC names. ``gcp.endpoint`` (or
``STIX_GCP_ENDPOINT``) sends every API call to another base URL (an emulator).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from stix.errors import CredentialsError

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
CREDENTIALS_HINT = (
    "run: gcloud auth application-default login (or set GOOGLE_APPLICATION_CREDENTIALS "
    "to a service-account key file), then: stix check gcp"
)
PROJECT_HINT = "set gcp.project_id in ~/.stix/config.yaml, or export GOOGLE_CLOUD_PROJECT=<id>"
# Base URLs of the REST APIs used besides Compute Engine's own client.
TPU_URL = "https://tpu.googleapis.com"
BILLING_URL = "https://cloudbilling.googleapis.com"
_LOCK = threading.Lock()
_CACHE: dict[str, Any] = {}


def _setting(key: str, default: Any = None) -> Any:
    from stix.config import load_config

    return load_config().get(f"gcp.{key}", default)


def endpoint() -> str | None:
    """The base URL every API call goes to instead of Google's, or ``None``."""
    value = os.environ.get("STIX_GCP_ENDPOINT") or _setting("endpoint")
    return str(value).rstrip("/") if value else None


def _env_key() -> tuple[Any, ...]:
    names = ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CONFIG")
    return (*(os.environ.get(n) for n in names), endpoint())


def reset() -> None:
    """Forget cached credentials and clients (after the environment changed)."""
    with _LOCK:
        _CACHE.clear()


def _cached() -> dict[str, Any]:
    key = _env_key()
    if _CACHE.get("key") != key:
        _CACHE.clear()
        _CACHE["key"] = key
    return _CACHE


def credentials() -> tuple[Any, str | None]:
    """``(credentials, project named by ADC)``.

    :raises stix.errors.CredentialsError: no Application Default Credentials found.
    """
    with _LOCK:
        cache = _cached()
        if "creds" not in cache:
            import google.auth
            from google.auth import exceptions as gexc

            try:
                creds, project = google.auth.default(scopes=list(SCOPES))
            except gexc.DefaultCredentialsError as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else "not found"
                raise CredentialsError(
                    f"gcp: no Application Default Credentials ({first[:160]})",
                    hint=CREDENTIALS_HINT,
                ) from exc
            cache["creds"], cache["adc_project"] = creds, project
        return cache["creds"], cache["adc_project"]


def project_id() -> str:
    """The project to work in.

    :raises stix.errors.CredentialsError: no project configured or found in ADC.
    """
    configured = (
        _setting("project_id")
        or os.environ.get("GOOGLE_CLOUD_PROJECT")
        or os.environ.get("CLOUDSDK_CORE_PROJECT")
    )
    if configured:
        return str(configured)
    _creds, project = credentials()
    if not project:
        raise CredentialsError("gcp: no project configured", hint=PROJECT_HINT)
    return str(project)


def compute(kind: str) -> Any:
    """A Compute Engine client (REST transport) such as ``compute("InstancesClient")``."""
    with _LOCK:
        cache = _cached()
        made = cache.get(kind)
    if made is not None:
        return made
    from google.cloud import compute_v1

    creds, _project = credentials()
    options: dict[str, Any] = {}
    base = endpoint()
    if base:
        options["api_endpoint"] = base
    made = getattr(compute_v1, kind)(credentials=creds, transport="rest", client_options=options)
    with _LOCK:
        _cached()[kind] = made
    return made


def rest_session() -> Any:
    """An authorized ``requests`` session for the REST APIs without a client here (TPU, billing)."""
    with _LOCK:
        cache = _cached()
        made = cache.get("rest")
    if made is not None:
        return made
    from google.auth.transport.requests import AuthorizedSession

    creds, _project = credentials()
    made = AuthorizedSession(creds)
    with _LOCK:
        _cached()["rest"] = made
    return made


def api_url(default_base: str) -> str:
    """The base URL of one REST API: Google's, or the configured endpoint."""
    return endpoint() or default_base


__all__ = [
    "BILLING_URL",
    "CREDENTIALS_HINT",
    "PROJECT_HINT",
    "TPU_URL",
    "api_url",
    "compute",
    "credentials",
    "endpoint",
    "project_id",
    "reset",
    "rest_session",
]
