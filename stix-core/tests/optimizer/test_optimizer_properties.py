"""Property tests: exact solvers equal brute force; the chosen candidate is the cheapest."""

from __future__ import annotations

import csv
import itertools
from typing import Any

import pytest
from catalog_testkit import DATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stix.catalog.query import OfferFilter
from stix.errors import ResourcesUnavailableError
from stix.optimizer import optimize
from stix.optimizer.solve import solve_chain, solve_dag, solve_makespan, topological_order
from stix.task import Task

LABELS = ("a", "b", "c")


@st.composite
def labelled_dags(
    draw: Any, chain: bool = False
) -> tuple[list[dict[str, float]], list[tuple[int, int]], dict]:
    n = draw(st.integers(1, 6))
    costs = [
        {
            lab: draw(st.floats(0, 10, allow_nan=False))
            for lab in draw(st.sets(st.sampled_from(LABELS), min_size=1))
        }
        for _ in range(n)
    ]
    if chain:
        edges = [(i, i + 1) for i in range(n - 1)]
    else:
        pairs = [(u, v) for u in range(n) for v in range(u + 1, n)]
        edges = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=8)) if pairs else []
    egress = {
        (a, b): (0.0 if a == b else draw(st.floats(0, 5, allow_nan=False)))
        for a in LABELS
        for b in LABELS
    }
    return costs, edges, egress


def brute_sum(costs: list[dict[str, float]], edges: list[tuple[int, int]], egress: dict) -> float:
    best = float("inf")
    for labels in itertools.product(*(list(c) for c in costs)):
        total = sum(costs[i][lab] for i, lab in enumerate(labels))
        total += sum(egress[labels[u], labels[v]] for u, v in edges)
        best = min(best, total)
    return best


@settings(max_examples=150, deadline=None)
@given(labelled_dags(chain=True))
def test_chain_dp_equals_brute_force(case: Any) -> None:
    costs, edges, egress = case
    value, labels = solve_chain(costs, lambda u, v, a, b: egress[a, b])
    assert value == pytest.approx(brute_sum(costs, edges, egress))
    recomputed = sum(costs[i][lab] for i, lab in enumerate(labels)) + sum(
        egress[labels[u], labels[v]] for u, v in edges
    )
    assert recomputed == pytest.approx(value)


@settings(max_examples=150, deadline=None)
@given(labelled_dags())
def test_dag_solver_equals_brute_force(case: Any) -> None:
    costs, edges, egress = case
    value, labels = solve_dag(costs, edges, lambda u, v, a, b: egress[a, b])
    assert value == pytest.approx(brute_sum(costs, edges, egress))
    assert all(lab in costs[i] for i, lab in enumerate(labels))


@settings(max_examples=100, deadline=None)
@given(labelled_dags())
def test_makespan_solver_equals_brute_force(case: Any) -> None:
    times, edges, egress = case
    n = len(times)
    order = topological_order(n, edges)

    def span(labels: tuple[str, ...]) -> float:
        finish = [0.0] * n
        for node in order:
            start = max(
                (finish[u] + egress[labels[u], labels[node]] for u, v in edges if v == node),
                default=0.0,
            )
            finish[node] = start + times[node][labels[node]]
        return max(finish)

    best = min(span(labels) for labels in itertools.product(*(list(t) for t in times)))
    value, labels = solve_makespan(times, edges, lambda u, v, a, b: egress[a, b])
    assert value == pytest.approx(best)
    assert span(tuple(labels)) == pytest.approx(best)


def _rows(cloud: str) -> list[dict[str, str]]:
    with (DATA / cloud / "vms.csv").open() as handle:
        return list(csv.DictReader(handle))


def _num(text: str) -> float | None:
    return float(text) if text.strip() else None


def expected_price(req: dict[str, Any]) -> float | None:
    """Cheapest feasible price over alpha and beta, computed straight from the CSVs.

    A request without accelerators takes a machine without them; on a cloud (neither has
    general-purpose families) where none fits, a machine with accelerators.
    """
    found = [_cloud_price(req, cloud, False) for cloud in ("alpha", "beta")]
    if not req.get("accelerators"):
        found = [
            _cloud_price(req, cloud, True) if price is None else price
            for cloud, price in zip(("alpha", "beta"), found, strict=True)
        ]
    return min((p for p in found if p is not None), default=None)


def _cloud_price(req: dict[str, Any], cloud: str, any_machine: bool) -> float | None:
    """The cheapest feasible row of one cloud; ``any_machine``: accelerators or not."""
    acc = req.get("accelerators")
    name, count = (acc.split(":")[0], float(acc.split(":")[1])) if acc else (None, 0.0)
    cpus = req.get("cpus")
    memory = req.get("memory")
    if acc is None and cpus is None and memory is None:
        cpus = "8+"
    infra = (req.get("infra") or "").split("/")
    if (infra[0] and infra[0] != cloud) or (req.get("use_spot") and cloud == "beta"):
        return None
    best = None
    for row in _rows(cloud):
        price = _num(row["SpotPrice"] if req.get("use_spot") else row["Price"])
        if price is None or (len(infra) > 1 and row["Region"] != infra[1]):
            continue
        if (row["AcceleratorName"] or None) != name and not any_machine:
            continue
        if name and abs(float(row["AcceleratorCount"]) - count) > 0.01:
            continue
        for value, have in ((cpus, float(row["vCPUs"])), (memory, float(row["MemoryGiB"]))):
            if value is None:
                continue
            text = str(value)
            want = float(text.rstrip("+"))
            if (text.endswith("+") and have < want) or (not text.endswith("+") and have != want):
                break
        else:
            best = price if best is None else min(best, price)
    return best


requests = st.fixed_dictionaries(
    {},
    optional={
        "cpus": st.sampled_from([2, 4, 8, "4+", "8+", "16+", "100+"]),
        "memory": st.sampled_from(["16+", 32, "64+", 8]),
        "accelerators": st.sampled_from(["A100:1", "A100:8", "V100:1", "H100:8", "A100:2"]),
        "use_spot": st.booleans(),
        "infra": st.sampled_from(["alpha", "beta", "alpha/r1", "alpha/r2", "beta/west"]),
    },
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(requests)
def test_chosen_is_never_dearer_than_a_feasible_candidate(
    registry: Any, catalog: Any, req: dict
) -> None:
    want = expected_price(req)
    task = Task.from_yaml_config({"resources": req})
    try:
        plan = optimize(task, registry=registry, catalog=catalog, allowed_clouds=["alpha", "beta"])
    except ResourcesUnavailableError:
        assert want is None
        return
    assert want is not None
    chosen = plan.tasks[0].chosen
    assert chosen.hourly_cost == pytest.approx(want)
    for other in plan.tasks[0].failover:
        assert (
            other.hourly_cost >= chosen.hourly_cost - 1e-9
            or other.instance_type != chosen.instance_type
        )


filters = st.builds(
    OfferFilter,
    clouds=st.sampled_from([None, ("alpha",), ("beta", "gcp")]),
    accelerators=st.sampled_from([None, ("A100",), ("T4", "V100")]),
    accelerator_count=st.sampled_from([None, 1.0, 8.0]),
    cpus=st.sampled_from([None, 4.0, 8.0]),
    cpus_at_least=st.booleans(),
    memory=st.sampled_from([None, 30.0, 64.0]),
    memory_at_least=st.booleans(),
    memory_per_cpu=st.sampled_from([None, 4.0]),
    region=st.sampled_from([None, "r1", "east", "us-central1"]),
    use_spot=st.booleans(),
    max_price=st.sampled_from([None, 0.2, 3.0, 25.0]),
    excluded=st.sampled_from(
        [(), (("alpha", "r1", None, None),), (("gcp", None, "us-central1-a", None),)]
    ),
    cloud_families=st.sampled_from(
        [(), (("alpha", ("a-cpu-%",)),), (("alpha", ("a-mem-%", "a-gpu-%")), ("gcp", ("n2-%",)))]
    ),
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(filters)
def test_sql_filter_and_python_filter_agree(catalog: Any, flt: OfferFilter) -> None:
    every = catalog.locations(OfferFilter(any_accelerator=True)) + catalog.locations(OfferFilter())
    expected = sorted(
        (o.cloud, o.instance_type, o.zone or o.region, o.accelerator_count)
        for o in every
        if flt.accepts(o)
    )
    got = sorted(
        (o.cloud, o.instance_type, o.zone or o.region, o.accelerator_count)
        for o in catalog.locations(flt)
    )
    assert got == expected
