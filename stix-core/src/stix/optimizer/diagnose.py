"""Explain an empty candidate set: which constraint excluded everything, and
the nearest request that would work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs

from stix.errors import ResourcesUnavailableError
from stix.optimizer.candidates import Scope, find_offers

if TYPE_CHECKING:
    from stix.catalog.offer import Offer
    from stix.task import Resources, Task


def describe(r: Resources, num_nodes: int = 1) -> str:
    """A short human form of one resources candidate."""
    parts = []
    if r.accelerators:
        name, count = next(iter(r.accelerators.items()))
        parts.append(f"{name}:{count:g}" if isinstance(count, (int, float)) else str(name))
    if r.instance_type:
        parts.append(r.instance_type)
    if r.cpus:
        parts.append(f"cpus={r.cpus}")
    if r.memory:
        parts.append(f"memory={r.memory}")
    where = "/".join(p for p in (r.cloud, r.region, r.zone) if p)
    if where:
        parts.append(f"on {where}")
    if r.use_spot:
        parts.append("spot")
    if r.ports:
        parts.append(f"ports {','.join(r.ports)}")
    if r.image_id:
        parts.append("image_id")
    if r.max_hourly_cost is not None:
        parts.append(f"max ${r.max_hourly_cost:g}/h")
    if num_nodes > 1:
        parts.append(f"{num_nodes} nodes")
    return ", ".join(parts) or "default resources"


def _offer_text(o: Offer, use_spot: bool) -> str:
    acc = f" {o.accelerator_name}:{o.accelerator_count:g}" if o.accelerator_name else ""
    where = "/".join(p for p in (o.cloud, o.region, o.zone) if p)
    price = o.hourly(use_spot) or 0.0
    return f"{o.instance_type or '-'}{acc} on {where} (${price:.2f}/h)"


def _relaxations(r: Resources, num_nodes: int, scope: Scope) -> list[tuple[str, Resources, int]]:
    out: list[tuple[str, Resources, int]] = []
    ev = attrs.evolve
    if r.zone or r.region:
        out.append(("resources.infra (region/zone)", ev(r, region=None, zone=None), num_nodes))
    if r.max_hourly_cost is not None:
        out.append(("resources.max_hourly_cost", ev(r, max_hourly_cost=None), num_nodes))
    if r.use_spot:
        out.append(("resources.use_spot", ev(r, use_spot=False), num_nodes))
    if r.instance_type:
        out.append(("resources.instance_type", ev(r, instance_type=None), num_nodes))
    if r.cpus:
        out.append(("resources.cpus", ev(r, cpus=None), num_nodes))
    if r.memory:
        out.append(("resources.memory", ev(r, memory=None), num_nodes))
    acc = r.accelerator()
    if acc is not None and scope.catalog is not None:
        names = scope.catalog.resolve_accelerator(acc[0])
        counts = sorted(
            {
                c
                for name, cs in scope.catalog.accelerator_counts().items()
                if name in names
                for c in cs
            },
            key=lambda c: (abs(c - acc[1]), c > acc[1]),
        )
        for count in counts[:3]:
            if abs(count - acc[1]) > 0.01:
                value = int(count) if float(count).is_integer() else count
                new = ev(r, accelerators={acc[0]: value})
                out.append(
                    (f"resources.accelerators count {acc[1]:g} (try {value:g})", new, num_nodes)
                )
    if r.cloud:
        out.append(
            ("resources.infra (cloud)", ev(r, cloud=None, region=None, zone=None), num_nodes)
        )
    if num_nodes > 1:
        out.append(("num_nodes", r, 1))
    return out


def unavailable(
    scope: Scope,
    task: Task,
    skipped: Mapping[str, str],
) -> ResourcesUnavailableError:
    """The error to raise when no candidate satisfies ``task``'s resources."""
    r = task.resources[0]
    label = f"task {task.name!r}: " if task.name else ""
    wanted = describe(r, task.num_nodes)
    pinned = skipped.get(r.cloud) if r.cloud else None
    for constraint, relaxed, nodes in _relaxations(r, task.num_nodes, scope):
        try:
            found = find_offers(scope, relaxed, nodes, limit=1)
        except ResourcesUnavailableError:
            continue
        if found.offers:
            near = _offer_text(found.offers[0], bool(relaxed.use_spot))
            acc = r.accelerator()
            more = f"; see: stix gpus list {acc[0]}" if acc else ""
            why = pinned or f"{constraint} excludes every candidate"
            return ResourcesUnavailableError(
                f"{label}no offer satisfies {wanted}: {why}",
                hint=f"nearest feasible: {near}{more}",
            )
    reasons = "; ".join(list(skipped.values())[:3])
    hint = "see: stix gpus list, stix catalog ls, stix check"
    if scope.catalog is None or not scope.catalog.clouds:
        hint = "no catalogs installed; run: stix catalog update, or stix catalog import --format skypilot DIR"
    return ResourcesUnavailableError(
        f"{label}no offer satisfies {wanted}" + (f" ({reasons})" if reasons else ""), hint=hint
    )


__all__ = ["describe", "unavailable"]
