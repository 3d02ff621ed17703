"""Turn a ``Task`` into the agent's job spec (what to run, where, with which demand)."""

from __future__ import annotations

import getpass
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stix.task import Resources, Task

DEFAULT_CPU_DEMAND = 0.5


def current_user() -> str:
    """The submitting user's name (``SKYPILOT_USER``)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def demand(resources: Resources | None) -> dict[str, Any]:
    """Per-node demand: requested CPUs (0.5 when unset), accelerator count, memory GiB."""
    out: dict[str, Any] = {"cpus": DEFAULT_CPU_DEMAND, "gpus": 0, "memory": 0}
    if resources is None:
        return out
    cpus = resources.cpus_request()
    if cpus:
        out["cpus"] = cpus[0]
    acc = resources.accelerator()
    if acc:
        out["gpus"] = acc[1]
    memory = resources.memory_request()
    if memory:
        out["memory"] = memory[0]
    parts = []
    if cpus:
        parts.append(f"cpus={resources.cpus}")
    if acc:
        parts.append(f"{acc[0]}:{acc[1]:g}")
    if memory:
        parts.append(f"mem={resources.memory}")
    out["display"] = f"{', '.join(parts) or 'cpus=' + str(DEFAULT_CPU_DEMAND)}"
    return out


def job_spec(task: Task, *, with_setup: bool, resources: Resources | None = None) -> dict[str, Any]:
    """The JSON job spec the agent's ``submit`` takes."""
    res = resources if resources is not None else (task.resources[0] if task.resources else None)
    spec: dict[str, Any] = {
        "name": task.name,
        "run": task.run if task.run is not None else "true",
        "num_nodes": task.num_nodes,
        "envs": dict(task.envs),
        "secrets": {k: v for k, v in task.secrets.items() if v is not None},
        "user": current_user(),
        "resources": demand(res),
    }
    if with_setup and task.setup:
        spec["setup"] = task.setup
    return spec


def gpus_per_node(task: Task) -> int:
    acc = task.resources[0].accelerator() if task.resources else None
    return math.ceil(acc[1]) if acc else 0
