"""The optimizer: where (and on what) every task of a DAG runs.

Public API: ``optimize(dag_or_task, *, minimize, blocked, time_estimator,
launchable_only, registry) -> Plan``; ``Plan``, ``TaskPlan``, ``Candidate``,
``Blocked``; ``TaskGraph(tasks, edges)`` for DAGs other than chains.
Submodules load on first use.
"""

from __future__ import annotations

from stix.lazy import lazy_exports

_LAZY = {
    "optimize": "stix.optimizer.core",
    "Plan": "stix.optimizer.plan",
    "TaskPlan": "stix.optimizer.plan",
    "Candidate": "stix.optimizer.plan",
    "Blocked": "stix.optimizer.plan",
    "TaskGraph": "stix.optimizer.graph",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
