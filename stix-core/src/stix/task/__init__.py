"""SkyPilot-compatible task model: ``Task``, ``Resources``, ``Dag`` and their YAML loaders.

    from stix.task import load_task
    task = load_task("task.yaml", env_overrides={"HF_TOKEN": None})

Submodules are imported on first use so that ``import stix.task`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stix.lazy import lazy_exports

if TYPE_CHECKING:
    from stix.task.dag import Dag
    from stix.task.loader import load_dag, load_task
    from stix.task.model import Task
    from stix.task.resources import Autostop, Resources
    from stix.task.service import PoolSpec, ReadinessProbe, ReplicaPolicy, ServiceSpec
    from stix.task.storage import Storage
    from stix.task.yamlio import dump_yaml

_LAZY = {
    "Task": "stix.task.model",
    "Resources": "stix.task.resources",
    "Autostop": "stix.task.resources",
    "Dag": "stix.task.dag",
    "Storage": "stix.task.storage",
    "ServiceSpec": "stix.task.service",
    "ReadinessProbe": "stix.task.service",
    "ReplicaPolicy": "stix.task.service",
    "PoolSpec": "stix.task.service",
    "load_task": "stix.task.loader",
    "load_dag": "stix.task.loader",
    "dump_yaml": "stix.task.yamlio",
}

__all__ = [
    "Autostop",
    "Dag",
    "PoolSpec",
    "ReadinessProbe",
    "ReplicaPolicy",
    "Resources",
    "ServiceSpec",
    "Storage",
    "Task",
    "dump_yaml",
    "load_dag",
    "load_task",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
