"""``optimize``: choose where every task of a DAG runs, cheapest (or fastest) first.

Per task, candidates come from every enabled cloud's catalog (or live offers);
the DAG is then solved exactly over clouds, because moving data between tasks
costs only when they run on different clouds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from stix.catalog.offer import Offer
from stix.errors import ResourcesUnavailableError, StixError
from stix.optimizer import failover, solve
from stix.optimizer.candidates import Scope, find_offers
from stix.optimizer.diagnose import unavailable
from stix.optimizer.plan import Blocked, Candidate, Plan, TaskPlan

if TYPE_CHECKING:
    from stix.catalog.query import Catalog
    from stix.task import Resources, Task

TimeEstimator = Callable[["Task", Candidate], float]
DEFAULT_HOURS = 1.0
# Internet egress when the source cloud's plugin (which knows its price) is absent.
DEFAULT_EGRESS_PER_GB = 0.09
EGRESS_GBPS = 10.0


@attrs.define
class _TaskOptions:
    task: Task
    ranked: list[Candidate]  # in the order failover should try them
    eligible: list[Candidate]  # what the solver may choose from
    considered: list[Candidate]
    hours: dict[int, float]  # id(candidate) -> runtime estimate


def make_scope(
    registry: Any = None,
    catalog: Catalog | None = None,
    blocked: Iterable[Blocked] = (),
    allowed: Iterable[str] | None = None,
) -> Scope:
    """Collect installed clouds, their catalogs and ``allowed_clouds``."""
    if registry is None:
        from stix.plugins import get_registry

        registry = get_registry()
    clouds = registry.clouds()
    if catalog is None:
        from stix.catalog.files import seed_folders
        from stix.catalog.query import Catalog

        catalog = Catalog(seeds=seed_folders(registry))
    if allowed is None:
        from stix.config import load_config

        value = load_config().get("allowed_clouds")
        allowed = value if isinstance(value, (list, tuple)) else None
    return Scope(
        catalog=catalog,
        clouds=clouds,
        allowed=frozenset(str(a).lower() for a in allowed) if allowed is not None else None,
        blocked=tuple(blocked),
    )


def _candidate(scope: Scope, task: Task, choice: int, o: Offer) -> Candidate:
    r = task.resources[choice]
    use_spot = bool(r.use_spot)
    return Candidate(
        cloud=o.cloud,
        instance_type=o.instance_type,
        region=o.region,
        zone=o.zone,
        accelerators=o.accelerators,
        vcpus=o.vcpus,
        memory_gib=o.memory_gib,
        use_spot=use_spot,
        hourly_cost=o.hourly(use_spot) or 0.0,
        num_nodes=task.num_nodes,
        launchable=scope.launchable(o.cloud),
        hint=scope.hint(o.cloud) or scope.note(o, use_spot),
        choice=choice,
        base=r,
    )


def _task_options(
    scope: Scope,
    task: Task,
    minimize: str,
    estimator: TimeEstimator | None,
    launchable_only: bool,
) -> _TaskOptions:
    per_choice: list[list[Candidate]] = []
    ondemand: dict[int, float] = {}  # id(candidate) -> on-demand price, to break price ties
    skipped: dict[str, str] = {}
    first_error: ResourcesUnavailableError | None = None
    for i, r in enumerate(task.resources):
        try:
            found = find_offers(scope, r, task.num_nodes, limit=None if estimator else 8)
        except ResourcesUnavailableError as exc:
            first_error = first_error or exc
            per_choice.append([])
            continue
        skipped.update(found.skipped)
        cands = []
        for o in found.offers:
            cands.append(_candidate(scope, task, i, o))
            ondemand[id(cands[-1])] = o.price
        if launchable_only:
            dropped = [c for c in cands if not c.launchable]
            cands = [c for c in cands if c.launchable]
            for c in dropped:
                skipped.setdefault(
                    c.cloud, f"{c.cloud}: plugin not installed (pip install stix-{c.cloud})"
                )
        per_choice.append(cands)
    hours: dict[int, float] = {}
    for cands in per_choice:
        for c in cands:
            hours[id(c)] = float(estimator(task, c)) if estimator else DEFAULT_HOURS

    def score(c: Candidate) -> tuple[float, float]:
        cost = c.total_hourly_cost * hours[id(c)]
        return (hours[id(c)], cost) if minimize == "time" else (cost, hours[id(c)])

    def key(c: Candidate) -> tuple[object, ...]:
        return (*score(c), ondemand[id(c)], c.cloud, c.instance_type or "")

    for cands in per_choice:
        cands.sort(key=key)
    every = [c for cands in per_choice for c in cands]
    if not every:
        if first_error is not None and len(task.resources) == 1:
            raise first_error
        raise unavailable(scope, task, skipped, launchable_only)
    if task.resources_ordered:
        ranked = every
        entry = next(
            (cands for cands in per_choice if any(c.launchable for c in cands)),
            next(cands for cands in per_choice if cands),
        )
    else:
        ranked = sorted(every, key=key)
        entry = ranked
    eligible = [c for c in entry if c.launchable] or list(entry)
    best: dict[tuple[object, ...], Candidate] = {}
    for c in ranked:
        best.setdefault((c.choice, c.cloud, next(iter(c.accelerators or {"": 0}))), c)
    return _TaskOptions(task, ranked, eligible, list(best.values()), hours)


def _as_dag(dag_or_task: Any) -> tuple[list[Task], list[tuple[int, int]]]:
    tasks = getattr(dag_or_task, "tasks", None)
    if tasks is None:
        return [dag_or_task], []
    return list(tasks), [(int(u), int(v)) for u, v in getattr(dag_or_task, "edges", ())]


def _output_gb(task: Task) -> float:
    outputs = getattr(task, "outputs", None)
    if not outputs:
        return 0.0
    try:
        return float(sum(float(v) for v in outputs.values()))
    except (TypeError, ValueError):
        return 0.0


def _egress_cost(scope: Scope, cloud: str, gigabytes: float) -> float:
    if gigabytes <= 0:
        return 0.0
    plugin = scope.clouds.get(cloud)
    if plugin is not None:
        return float(plugin.egress_cost(gigabytes))
    return DEFAULT_EGRESS_PER_GB * gigabytes


def optimize(
    dag_or_task: Any,
    *,
    minimize: str = "cost",
    blocked: Iterable[Blocked] = (),
    time_estimator: TimeEstimator | None = None,
    launchable_only: bool = False,
    registry: Any = None,
    catalog: Catalog | None = None,
    allowed_clouds: Iterable[str] | None = None,
) -> Plan:
    """Choose a placement and failover list for every task of a DAG (or one task).

    :param dag_or_task: a ``Task``, a ``stix.task.Dag`` (a chain or a parallel
        group), or a :class:`stix.optimizer.TaskGraph` with explicit edges
        (any DAG: fan-out, fan-in); placement over clouds is exact, egress of
        each upstream task's ``outputs`` size included.
    :param minimize: ``"cost"`` (default) or ``"time"``.
    :param blocked: placements to avoid (after provisioning failures).
    :param time_estimator: ``f(task, candidate) -> hours``; 1 hour when absent.
    :param launchable_only: ignore clouds whose plugin is not installed.
    :param registry: plugin registry (default: the process-wide one).
    :param catalog: catalog handle (default: every catalog under ``$STIX_HOME``).
    :param allowed_clouds: restrict clouds (default: config ``allowed_clouds``).
    :raises stix.errors.ResourcesUnavailableError: a task has no feasible candidate.
    """
    if minimize not in ("cost", "time"):
        raise StixError(f"--minimize: expected cost or time, got {minimize!r}")
    tasks, edges = _as_dag(dag_or_task)
    scope = make_scope(registry, catalog, blocked, allowed_clouds)
    options = [_task_options(scope, t, minimize, time_estimator, launchable_only) for t in tasks]
    per_cloud: list[dict[str, Candidate]] = []
    for opt in options:
        best: dict[str, Candidate] = {}
        for c in opt.eligible:
            best.setdefault(c.cloud, c)
        per_cloud.append(best)
    values, assignment, egress = _solve(scope, tasks, edges, options, per_cloud, minimize)
    plans = []
    for opt, cloud, best in zip(options, assignment, per_cloud, strict=True):
        pick = best[cloud]
        ranked = [pick, *(c for c in opt.ranked if c is not pick)]

        def to_candidate(o: Offer, like: Candidate, _task: Task = opt.task) -> Candidate:
            return _candidate(scope, _task, like.choice, o)

        def resources_of(c: Candidate, _task: Task = opt.task) -> Resources:
            return _task.resources[c.choice]

        def build(
            _pick: Candidate = pick,
            _ranked: list[Candidate] = ranked,
            _of: Callable[[Candidate], Resources] = resources_of,
            _to: Callable[[Offer, Candidate], Candidate] = to_candidate,
        ) -> tuple[Candidate, ...]:
            return failover.build(scope, _pick, _ranked, _of, _to)

        considered = opt.considered if pick in opt.considered else [pick, *opt.considered]
        plans.append(TaskPlan(opt.task, pick, build, tuple(considered), opt.hours[id(pick)]))
    return Plan(plans, tuple(edges), minimize, values, egress)


def _solve(
    scope: Scope,
    tasks: Sequence[Task],
    edges: Sequence[tuple[int, int]],
    options: Sequence[_TaskOptions],
    per_cloud: Sequence[dict[str, Candidate]],
    minimize: str,
) -> tuple[float, list[str], float]:
    """Pick one cloud per task; returns (objective, clouds, egress cost)."""
    hours = [opt.hours for opt in options]
    costs = [
        {cl: c.total_hourly_cost * hours[i][id(c)] for cl, c in best.items()}
        for i, best in enumerate(per_cloud)
    ]
    gb = [_output_gb(t) for t in tasks]

    def egress_cost(u: int, v: int, a: Any, b: Any) -> float:
        return 0.0 if a == b else _egress_cost(scope, a, gb[u])

    def egress_time(u: int, v: int, a: Any, b: Any) -> float:
        return 0.0 if a == b or gb[u] <= 0 else gb[u] * 8 / EGRESS_GBPS / 3600

    labels: list[Any]
    if minimize == "time":
        times = [
            {cl: hours[i][id(c)] for cl, c in best.items()} for i, best in enumerate(per_cloud)
        ]
        big = 1e6  # time decides, cost breaks ties
        mixed = [
            {cl: t * big + costs[i][cl] for cl, t in row.items()} for i, row in enumerate(times)
        ]
        if not edges:
            labels = [min(row, key=lambda cl, _r=row: (_r[cl], cl)) for row in mixed]  # type: ignore[misc]
            value = max(times[i][lab] for i, lab in enumerate(labels))
        elif solve.is_chain(len(tasks), edges):
            _, labels = solve.solve_chain(mixed, lambda u, v, a, b: egress_time(u, v, a, b) * big)
            value = sum(times[i][lab] for i, lab in enumerate(labels))
            value += sum(egress_time(u, v, labels[u], labels[v]) for u, v in edges)
        else:
            value, labels = solve.solve_makespan(times, edges, egress_time, costs)
    elif not edges:
        labels = [min(row, key=lambda cl, _r=row: (_r[cl], cl)) for row in costs]  # type: ignore[misc]
        value = sum(costs[i][lab] for i, lab in enumerate(labels))
    elif solve.is_chain(len(tasks), edges):
        value, labels = solve.solve_chain(costs, egress_cost)
    else:
        value, labels = solve.solve_dag(costs, edges, egress_cost)
    egress = sum(egress_cost(u, v, labels[u], labels[v]) for u, v in edges)
    return value, [str(lab) for lab in labels], egress


__all__ = ["DEFAULT_HOURS", "TimeEstimator", "make_scope", "optimize"]
