"""Text and JSON forms of a plan, as ``stix launch --dryrun`` prints them."""

from __future__ import annotations

import json

from stix.optimizer.plan import Candidate, Plan, TaskPlan
from stix.table import table_lines

HEADERS = ("INFRA", "INSTANCE", "vCPUs", "Mem(GB)", "GPUS", "COST ($/hr)", "CHOSEN")
CHECK = "\u2714"


def _num(value: float) -> str:
    if not value:
        return "-"
    return f"{value:g}" if float(value).is_integer() else f"{value:.1f}"


def _gpus(c: Candidate) -> str:
    if not c.accelerators:
        return "-"
    return ", ".join(f"{name}:{count:g}" for name, count in c.accelerators.items())


def _task_table(tp: TaskPlan, color: bool) -> list[str]:
    chosen = tp.chosen
    rows_c = sorted(tp.considered, key=lambda c: (c.total_hourly_cost, c.cloud))
    if tp.task.resources_ordered:
        rows_c = sorted(tp.considered, key=lambda c: (c.choice, c.total_hourly_cost))
    note = any(not c.launchable or c.hint for c in rows_c)
    headers = (*HEADERS, "NOTE") if note else HEADERS
    rows: list[list[str]] = []
    chosen_row = -1
    for c in rows_c:
        is_chosen = (c.cloud, c.instance_type, c.accelerators, c.choice) == (
            chosen.cloud,
            chosen.instance_type,
            chosen.accelerators,
            chosen.choice,
        )
        shown = chosen if is_chosen else c
        instance = (shown.instance_type or "-") + ("[Spot]" if shown.use_spot else "")
        row = [
            shown.infra,
            instance,
            _num(shown.vcpus),
            _num(shown.memory_gib),
            _gpus(shown),
            f"{shown.total_hourly_cost:.2f}",
            CHECK if is_chosen and chosen_row < 0 else "",
        ]
        if is_chosen and chosen_row < 0:
            chosen_row = len(rows)
        if note:
            row.append(shown.hint or "")
        rows.append(row)
    lines = table_lines(rows, headers)
    if color and chosen_row >= 0:
        lines[chosen_row + 1] = f"\x1b[1;32m{lines[chosen_row + 1]}\x1b[0m"
    return lines


def _best_plan(plan: Plan) -> list[str]:
    """One row per task: what was chosen for it (pipelines and graphs)."""
    rows = []
    for i, tp in enumerate(plan.tasks):
        c = tp.chosen
        instance = (c.instance_type or "-") + ("[Spot]" if c.use_spot else "")
        rows.append(
            [
                tp.task.name or f"task-{i}",
                str(c.num_nodes),
                c.infra,
                instance,
                _gpus(c),
                f"{c.total_hourly_cost:.2f}",
            ]
        )
    return table_lines(rows, ("TASK", "#NODES", "INFRA", "INSTANCE", "GPUS", "COST ($/hr)"))


def render(plan: Plan, color: bool = False) -> str:
    """The considered-resources table(s) and the hourly cost estimate."""
    out: list[str] = []
    many = len(plan.tasks) > 1
    for i, tp in enumerate(plan.tasks):
        nodes = tp.chosen.num_nodes
        label = f"{nodes} node{'s' if nodes != 1 else ''}"
        if many:
            name = tp.task.name or f"task-{i}"
            out.append(f"Task {i} ({name}): considered resources ({label}):")
        else:
            out.append(f"Considered resources ({label}):")
        out.extend(_task_table(tp, color))
        out.append("")
    if many:
        out.append("Best plan:")
        out.extend(_best_plan(plan))
        out.append("")
    cost = f"Estimated cost: ${plan.hourly_cost:.2f}/hr"
    if plan.egress_cost:
        cost += f" plus ${plan.egress_cost:.2f} data transfer"
    if not all(tp.chosen.launchable for tp in plan.tasks):
        missing = sorted({tp.chosen.cloud for tp in plan.tasks if not tp.chosen.launchable})
        cost += f" (to launch: {', '.join(f'pip install stix-{m}' for m in missing)})"
    out.append(cost)
    return "\n".join(out)


def to_json(plan: Plan) -> str:
    """The ``--json`` document."""
    return json.dumps(plan.as_dict(), indent=2)


__all__ = ["render", "to_json"]
