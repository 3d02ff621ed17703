"""Azure SDK clients for one subscription, pointed at the configured Resource Manager endpoint.

``azure.resource_manager_endpoint`` in the config (default the public cloud) serves
sovereign clouds and Azure Stack; every client shares the process's credential.
"""

from __future__ import annotations

from typing import Any

from stix_azure.credentials import _setting, credential, subscription_id

PUBLIC_ENDPOINT = "https://management.azure.com"


def endpoint() -> str:
    """The Resource Manager base URL, without a trailing slash."""
    return str(_setting("resource_manager_endpoint") or PUBLIC_ENDPOINT).rstrip("/")


def management_scope() -> str:
    """The token scope of Resource Manager (the public cloud's, also for custom endpoints)."""
    return str(_setting("token_scope") or "https://management.azure.com/.default")


def _kwargs() -> dict[str, Any]:
    # A failed request is reported, not retried for minutes: failover tries elsewhere.
    return {
        "base_url": endpoint(),
        "credential_scopes": [management_scope()],
        "retry_total": int(_setting("retry_total", 2)),
        "retry_backoff_factor": 0.2,
        "polling_interval": float(_setting("poll_seconds", 5)),
    }


def resource_client(sub: str | None = None) -> Any:
    from azure.mgmt.resource.resources import ResourceManagementClient

    return ResourceManagementClient(credential(), sub or subscription_id(), **_kwargs())


def network_client(sub: str | None = None) -> Any:
    from azure.mgmt.network import NetworkManagementClient

    return NetworkManagementClient(credential(), sub or subscription_id(), **_kwargs())


def compute_client(sub: str | None = None) -> Any:
    from azure.mgmt.compute import ComputeManagementClient

    return ComputeManagementClient(credential(), sub or subscription_id(), **_kwargs())


__all__ = ["compute_client", "endpoint", "management_scope", "network_client", "resource_client"]
