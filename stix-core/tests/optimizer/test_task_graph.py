"""Planning a general DAG (``TaskGraph``) end to end, checked against brute force."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from stix.errors import StixError
from stix.optimizer import TaskGraph, optimize
from stix.task import Task

CLOUDS = ("alpha", "beta")
EGRESS = {"alpha": 0.2, "beta": 0.1}  # $/GB out of each test cloud (catalog_testkit)
# a diamond plus a shortcut: 0 -> 1 -> 3, 0 -> 2 -> 3, 0 -> 3, 3 -> 4
EDGES = ((0, 1), (0, 2), (1, 3), (2, 3), (0, 3), (3, 4))
REQUESTS = ({"cpus": 4}, {"accelerators": "A100:8"}, {"cpus": 8}, {"accelerators": "V100:1"},
            {"cpus": "4+"})  # fmt: skip


def _task(i: int, resources: dict[str, Any], gb: float) -> Task:
    config: dict[str, Any] = {"name": f"t{i}", "resources": resources, "run": "true"}
    if gb:
        config["outputs"] = {f"s3://bucket/out{i}": gb}
    return Task.from_yaml_config(config)


def _price(registry: Any, catalog: Any, resources: dict[str, Any], cloud: str) -> float | None:
    try:
        plan = optimize(
            Task.from_yaml_config({"resources": {**resources, "infra": cloud}}),
            registry=registry, catalog=catalog, allowed_clouds=CLOUDS,
        )  # fmt: skip
    except StixError:
        return None
    return plan.tasks[0].chosen.total_hourly_cost


def _brute(costs: list[dict[str, float]], gbs: list[float]) -> float:
    best = float("inf")
    for labels in itertools.product(*(sorted(c) for c in costs)):
        total = sum(costs[i][lab] for i, lab in enumerate(labels))
        total += sum(gbs[u] * EGRESS[labels[u]] for u, v in EDGES if labels[u] != labels[v])
        best = min(best, total)
    return best


def test_general_dag_matches_brute_force(registry: Any, catalog: Any) -> None:
    prices = [
        {c: p for c in CLOUDS if (p := _price(registry, catalog, r, c)) is not None}
        for r in REQUESTS
    ]
    assert all(prices) and any(len(p) == 2 for p in prices)
    rng = random.Random(7)
    mixed = 0
    for _ in range(12):
        gbs = [round(rng.choice([0, 0.05, 0.3, 1, 5, 40]), 2) for _ in REQUESTS]
        graph = TaskGraph([_task(i, r, gbs[i]) for i, r in enumerate(REQUESTS)], EDGES)
        plan = optimize(graph, registry=registry, catalog=catalog, allowed_clouds=CLOUDS)
        clouds = [tp.chosen.cloud for tp in plan.tasks]
        mixed += len(set(clouds)) > 1
        expected = _brute(prices, gbs)
        assert plan.objective == pytest.approx(expected)
        assert plan.total_cost == pytest.approx(expected)
        moved = sum(gbs[u] * EGRESS[clouds[u]] for u, v in EDGES if clouds[u] != clouds[v])
        assert plan.egress_cost == pytest.approx(moved)
        assert plan.edges == EDGES
    assert mixed  # some cases really trade egress against cheaper machines


def test_graph_from_names_and_bad_graphs(registry: Any, catalog: Any) -> None:
    tasks = [_task(i, {"cpus": 4}, 0) for i in range(3)]
    graph = TaskGraph.from_names(tasks, [("t0", "t1"), ("t0", "t2")])
    assert graph.edges == ((0, 1), (0, 2))
    plan = optimize(graph, registry=registry, catalog=catalog, allowed_clouds=CLOUDS)
    assert [tp.chosen.cloud for tp in plan.tasks] == ["beta"] * 3
    with pytest.raises(StixError, match="cycle"):
        TaskGraph(tasks, [(0, 1), (1, 2), (2, 0)])
    with pytest.raises(StixError, match="edge"):
        TaskGraph(tasks, [(0, 5)])
    with pytest.raises(StixError, match="no task named 'x'"):
        TaskGraph.from_names(tasks, [("t0", "x")])


def test_general_dag_minimises_finish_time(registry: Any, catalog: Any) -> None:
    tasks = [_task(i, {"cpus": 4}, 0) for i in range(4)]
    graph = TaskGraph(tasks, [(0, 1), (0, 2), (1, 3), (2, 3)])

    def hours(task: Task, candidate: Any) -> float:
        # t2 is much faster on alpha, everything else on beta
        if task.name == "t2":
            return 1.0 if candidate.cloud == "alpha" else 5.0
        return 1.0 if candidate.cloud == "beta" else 2.0

    plan = optimize(
        graph, minimize="time", time_estimator=hours, registry=registry, catalog=catalog,
        allowed_clouds=CLOUDS,
    )  # fmt: skip
    assert [tp.chosen.cloud for tp in plan.tasks] == ["beta", "beta", "alpha", "beta"]
    assert plan.objective == pytest.approx(3.0)  # t0, then t1 || t2, then t3
