"""Kubernetes API failures as STIX errors, so failover knows what to skip.

A context is a region: an unreachable or forbidden context blocks that context only,
never the whole cloud, because another context may work.
"""

from __future__ import annotations

import json
from typing import Any

from stix.errors import CredentialsError, ProvisionError, StixError


def _reason(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if body:
        try:
            message = json.loads(body).get("message")
        except (ValueError, AttributeError):
            message = None
        if message:
            return str(message)
    return str(getattr(exc, "reason", None) or exc).strip().splitlines()[0]


def api_error(exc: BaseException, context: str, what: str) -> StixError:
    """The STIX error for a failed call ``what`` (``"create pod"``) against ``context``."""
    if isinstance(exc, StixError):
        return exc
    status = getattr(exc, "status", None)
    where = f"kubernetes/{context}"
    if status == 401:
        return CredentialsError(
            f"{where}: {what}: not authenticated ({_reason(exc)})",
            hint="refresh the credentials of the context in your kubeconfig",
            scope="region",
        )
    if status == 403:
        return CredentialsError(
            f"{where}: {what}: forbidden by RBAC ({_reason(exc)})",
            hint="grant the verbs listed in stix-k8s/README.md (RBAC manifest)",
            scope="region",
        )
    if status in (None, 0) or isinstance(exc, OSError):
        return ProvisionError(
            f"{where}: {what}: API server unreachable ({_reason(exc)})", scope="region"
        )
    return ProvisionError(f"{where}: {what} failed ({status}: {_reason(exc)})", scope="region")
