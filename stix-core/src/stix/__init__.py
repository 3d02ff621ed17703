"""STIX: run AI and batch workloads on any cloud from SkyPilot-compatible task YAML.

Importing ``stix`` is cheap: the public names below resolve on first use.

    import stix
    task = stix.load_task("examples/minimal.yaml")
"""

from __future__ import annotations

from stix.lazy import lazy_exports

__version__ = "0.1.0"

# public name -> "module:attribute"; resolved lazily by __getattr__.
_LAZY: dict[str, str] = {
    "Task": "stix.task:Task",
    "Resources": "stix.task:Resources",
    "Dag": "stix.task:Dag",
    "load_task": "stix.task:load_task",
    "load_dag": "stix.task:load_dag",
    "hookimpl": "stix.hookspecs:hookimpl",
    "get_registry": "stix.plugins:get_registry",
    "Registry": "stix.plugins:Registry",
    "StixError": "stix.errors:StixError",
    "TaskError": "stix.errors:TaskError",
    # the SDK: what the CLI commands call
    "launch": "stix.sdk.launcher:launch",
    "exec": "stix.sdk.launcher:exec",
    "submit": "stix.sdk.launcher:submit",
    "status": "stix.sdk:status",
    "queue": "stix.sdk:queue",
    "tail_logs": "stix.sdk:tail_logs",
    "cancel": "stix.sdk:cancel",
    "stop": "stix.sdk:stop",
    "start": "stix.sdk:start",
    "down": "stix.sdk:down",
    "autostop": "stix.sdk:autostop",
    "cost_report": "stix.sdk:cost_report",
    "optimize": "stix.optimizer:optimize",
    "TaskGraph": "stix.optimizer:TaskGraph",
}

__all__ = ["__version__", *sorted(_LAZY)]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
