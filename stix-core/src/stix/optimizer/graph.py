"""``TaskGraph``: tasks with explicit dependency edges, for DAGs that are not chains.

``stix.task.Dag`` holds what a YAML file can say (a chain or a parallel job
group). To plan any other DAG (fan-out, fan-in, diamonds), build a
``TaskGraph`` and pass it to :func:`stix.optimizer.optimize`; the placement is
solved exactly, egress between clouds included.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import attrs

from stix.errors import StixError

if TYPE_CHECKING:
    from stix.task import Task


def _task_list(tasks: Iterable[Task]) -> list[Task]:
    return list(tasks)


def _pairs(pairs: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return tuple((int(u), int(v)) for u, v in pairs)


def _check(graph: TaskGraph) -> None:
    from stix.optimizer.solve import topological_order

    n = len(graph.tasks)
    for u, v in graph.edges:
        if not (0 <= u < n and 0 <= v < n) or u == v:
            raise StixError(
                f"task graph: edge ({u}, {v}) must join two different tasks of 0..{n - 1}"
            )
    try:
        topological_order(n, graph.edges)
    except ValueError:
        raise StixError("task graph: the edges form a cycle") from None


@attrs.frozen
class TaskGraph:
    """Tasks and ``(upstream, downstream)`` index pairs; the data an upstream task
    moves downstream is its ``outputs`` size estimate (GB).

    :raises stix.errors.StixError: an edge names a missing task, or there is a cycle.
    """

    tasks: list[Task] = attrs.field(converter=_task_list)
    edges: tuple[tuple[int, int], ...] = attrs.field(default=(), converter=_pairs)
    name: str | None = None

    def __attrs_post_init__(self) -> None:
        _check(self)

    @classmethod
    def from_names(
        cls, tasks: Sequence[Task], edges: Iterable[tuple[str, str]], name: str | None = None
    ) -> TaskGraph:
        """Build a graph whose edges name tasks by their ``name``.

        :raises stix.errors.StixError: a name is unknown or used twice.
        """
        index: dict[str, int] = {}
        for i, task in enumerate(tasks):
            if task.name is None or task.name in index:
                raise StixError(f"task graph: task {i} needs a unique name to be used in edges")
            index[task.name] = i
        pairs = []
        for up, down in edges:
            for end in (up, down):
                if end not in index:
                    raise StixError(f"task graph: no task named {end!r}")
            pairs.append((index[up], index[down]))
        return cls(list(tasks), tuple(pairs), name)


__all__ = ["TaskGraph"]
