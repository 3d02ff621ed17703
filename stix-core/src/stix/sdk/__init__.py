"""The STIX SDK: everything the CLI does, as Python functions. The CLI is a thin layer over it.

from stix import sdk
result = sdk.launch("task.yaml", cluster_name="dev", detach_run=True)
sdk.queue("dev"); sdk.tail_logs("dev", result.job_id); sdk.down("dev")
"""

from __future__ import annotations

from stix.lazy import lazy_exports

_LAZY = {
    "launch": "stix.sdk.launcher",
    "exec": "stix.sdk.launcher",
    "submit": "stix.sdk.launcher",
    "LaunchResult": "stix.sdk.launcher",
    "status": "stix.sdk.clusters",
    "stop": "stix.sdk.clusters",
    "start": "stix.sdk.clusters",
    "down": "stix.sdk.clusters",
    "autostop": "stix.sdk.clusters",
    "cost_report": "stix.sdk.clusters",
    "queue": "stix.sdk.jobs",
    "tail_logs": "stix.sdk.jobs",
    "cancel": "stix.sdk.jobs",
    "job_status": "stix.sdk.jobs",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
