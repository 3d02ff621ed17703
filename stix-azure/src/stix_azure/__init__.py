"""Azure for STIX: VM clusters, Spot, failover across regions, Blob storage and the Azure catalog."""

from __future__ import annotations

__version__ = "0.1.0"
