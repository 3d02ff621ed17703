"""STIX's Google Cloud plugin: Compute Engine clusters, TPU VMs, GCS and the GCP catalog."""

from __future__ import annotations

__version__ = "0.1.0"
