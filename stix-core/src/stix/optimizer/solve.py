"""Exact placement of a DAG's tasks when moving data between clouds costs money.

Each task has a few labels (the clouds it can run on) with a cost; each edge
adds a cost depending on both ends' labels. A chain is solved by dynamic
programming; a general DAG by dynamic programming over the frontier of tasks
whose successors are not placed yet (exact; the state space grows only with
the DAG's width). Minimising the finish time of a DAG uses branch and bound.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TypeVar

Label = TypeVar("Label", bound=Hashable)
PairCost = Callable[[int, int, Label, Label], float]


def is_chain(n: int, edges: Sequence[tuple[int, int]]) -> bool:
    """True when ``edges`` link nodes ``0..n-1`` into one path ``0 -> 1 -> ... -> n-1``."""
    return sorted(edges) == [(i, i + 1) for i in range(n - 1)]


def solve_chain(
    costs: Sequence[Mapping[Label, float]], pair: PairCost[Label]
) -> tuple[float, list[Label]]:
    """Cheapest labelling of a chain: ``sum costs[i][l_i] + sum pair(i, i+1, l_i, l_i+1)``."""
    best: dict[Label, tuple[float, list[Label]]] = {lab: (c, [lab]) for lab, c in costs[0].items()}
    for i in range(1, len(costs)):
        nxt: dict[Label, tuple[float, list[Label]]] = {}
        for lab, c in costs[i].items():
            prev_lab, (prev_cost, path) = min(
                best.items(), key=lambda kv: kv[1][0] + pair(i - 1, i, kv[0], lab)
            )
            nxt[lab] = (prev_cost + pair(i - 1, i, prev_lab, lab) + c, [*path, lab])
        best = nxt
    total, path = min(best.values(), key=lambda v: v[0])
    return total, path


def topological_order(n: int, edges: Sequence[tuple[int, int]]) -> list[int]:
    """Kahn's order; ties by index.

    :raises ValueError: the graph has a cycle.
    """
    indegree = [0] * n
    children: list[list[int]] = [[] for _ in range(n)]
    for u, v in edges:
        children[u].append(v)
        indegree[v] += 1
    ready = sorted(i for i in range(n) if indegree[i] == 0)
    order: list[int] = []
    while ready:
        node = ready.pop(0)
        order.append(node)
        for child in children[node]:
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
                ready.sort()
    if len(order) != n:
        raise ValueError("the task graph has a cycle")
    return order


def solve_dag(
    costs: Sequence[Mapping[Label, float]], edges: Sequence[tuple[int, int]], pair: PairCost[Label]
) -> tuple[float, list[Label]]:
    """Cheapest labelling of a DAG (node costs plus edge costs), exactly."""
    n = len(costs)
    if n == 0:
        return 0.0, []
    order = topological_order(n, edges)
    position = {node: i for i, node in enumerate(order)}
    parents: list[list[int]] = [[] for _ in range(n)]
    last_use = {node: position[node] for node in range(n)}
    for u, v in edges:
        parents[v].append(u)
        last_use[u] = max(last_use[u], position[v])
    # state: labels of the active nodes (placed, with an unplaced child) -> (cost, assignment)
    active: tuple[int, ...] = ()
    states: dict[tuple[Label, ...], tuple[float, dict[int, Label]]] = {(): (0.0, {})}
    for step, node in enumerate(order):
        keep = tuple(a for a in (*active, node) if last_use[a] > step)
        nxt: dict[tuple[Label, ...], tuple[float, dict[int, Label]]] = {}
        for key, (cost, assign) in states.items():
            labels = dict(zip(active, key, strict=True))
            for lab, c in costs[node].items():
                total = cost + c + sum(pair(p, node, labels[p], lab) for p in parents[node])
                labels[node] = lab
                new_key = tuple(labels[a] for a in keep)
                if new_key not in nxt or total < nxt[new_key][0]:
                    nxt[new_key] = (total, {**assign, node: lab})
            labels.pop(node, None)
        states, active = nxt, keep
    total, assign = min(states.values(), key=lambda v: v[0])
    return total, [assign[i] for i in range(n)]


def solve_makespan(
    times: Sequence[Mapping[Label, float]],
    edges: Sequence[tuple[int, int]],
    pair_time: PairCost[Label],
    tie_costs: Sequence[Mapping[Label, float]] | None = None,
) -> tuple[float, list[Label]]:
    """Labelling minimising the DAG's finish time (ties broken by ``tie_costs``), exactly.

    A task starts when all its parents have finished and their data arrived
    (``pair_time``); branch and bound over labels in topological order.
    """
    n = len(times)
    if n == 0:
        return 0.0, []
    order = topological_order(n, edges)
    parents: list[list[int]] = [[] for _ in range(n)]
    children: list[list[int]] = [[] for _ in range(n)]
    for u, v in edges:
        parents[v].append(u)
        children[u].append(v)
    min_time = [min(t.values()) for t in times]
    tail = [0.0] * n  # shortest possible remaining path starting at the node
    for node in reversed(order):
        tail[node] = min_time[node] + max((tail[c] for c in children[node]), default=0.0)
    costs = tie_costs or [dict.fromkeys(t, 0.0) for t in times]
    best: list[tuple[float, float, list[Label]]] = [(float("inf"), float("inf"), [])]
    finish = [0.0] * n
    labels: list[Label | None] = [None] * n

    def visit(step: int, span: float, spent: float) -> None:
        if step == n:
            if (span, spent) < best[0][:2]:
                best[0] = (span, spent, [lab for lab in labels if lab is not None])
            return
        node = order[step]
        for lab, t in sorted(times[node].items(), key=lambda kv: kv[1]):
            start = max(
                (finish[p] + pair_time(p, node, labels[p], lab) for p in parents[node]),  # type: ignore[arg-type]
                default=0.0,
            )
            finish[node] = start + t
            labels[node] = lab
            bound = max(span, finish[node])
            for later in order[step + 1 :]:
                ready = max(
                    (finish[p] for p in parents[later] if labels[p] is not None), default=0.0
                )
                bound = max(bound, ready + tail[later])
            if (bound, 0.0) < best[0][:2] or (bound == best[0][0] and spent < best[0][1]):
                visit(step + 1, max(span, finish[node]), spent + costs[node][lab])
            labels[node] = None
        finish[node] = 0.0

    visit(0, 0.0, 0.0)
    span, _, assignment = best[0]
    return span, assignment


__all__ = ["is_chain", "solve_chain", "solve_dag", "solve_makespan", "topological_order"]
