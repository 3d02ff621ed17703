"""Order the places provisioning will try after the chosen one.

Chosen zone first, then the other zones of its region, then the other regions
by price, then the next candidates (each with its own locations).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from stix.catalog.offer import Offer
from stix.optimizer.candidates import Scope, locations
from stix.optimizer.plan import Candidate

if TYPE_CHECKING:
    from stix.task import Resources

# How many further instance types (after the chosen one) get their locations expanded.
EXPANDED_GROUPS = 3


def order_locations(offers: Sequence[Offer], first: Offer, use_spot: bool) -> list[Offer]:
    """``first``'s zone, the rest of its region, then other regions by their cheapest price."""

    def price(o: Offer) -> float:
        return o.hourly(use_spot) or 0.0

    by_region: dict[str | None, list[Offer]] = {}
    for o in offers:
        by_region.setdefault(o.region, []).append(o)
    home = sorted(
        by_region.pop(first.region, []),
        key=lambda o: (o.zone != first.zone, price(o), o.zone or ""),
    )
    others = sorted(
        by_region.values(), key=lambda group: (min(price(o) for o in group), group[0].region or "")
    )
    out = home
    for group in others:
        out.extend(sorted(group, key=lambda o: (price(o), o.zone or "")))
    return out


def build(
    scope: Scope,
    chosen: Candidate,
    ranked: Sequence[Candidate],
    resources_of: Callable[[Candidate], Resources],
    to_candidate: Callable[[Offer, Candidate], Candidate],
) -> tuple[Candidate, ...]:
    """The ordered failover list after ``chosen`` (which is at its group's cheapest location).

    :param ranked: the task's candidates in the order they should be tried.
    :param resources_of: the task resources a candidate came from.
    :param to_candidate: turn a location of a candidate's instance type into a candidate.
    """
    out: list[Candidate] = []

    def key(c: Candidate) -> tuple[object, ...]:
        acc = tuple(sorted((c.accelerators or {}).items()))
        return (c.cloud, c.instance_type, acc, c.region, c.zone, c.use_spot)

    seen = {key(chosen)}

    def expand(c: Candidate) -> list[Candidate]:
        offer = _offer_of(c)
        locs = locations(scope, resources_of(c), offer)
        return [to_candidate(o, c) for o in order_locations(locs, offer, c.use_spot)]

    group_key = key(chosen)[:3]
    for c in expand(chosen):
        if key(c) not in seen:
            seen.add(key(c))
            out.append(c)
    expanded = 0
    for c in ranked:
        if key(c)[:3] == group_key or key(c) in seen:
            continue
        if chosen.launchable and not c.launchable:
            continue
        more = expand(c) if expanded < EXPANDED_GROUPS else [c]
        expanded += 1
        for m in more:
            if key(m) not in seen:
                seen.add(key(m))
                out.append(m)
    return tuple(out)


def _offer_of(c: Candidate) -> Offer:
    name, count = next(iter(c.accelerators.items())) if c.accelerators else (None, 0)
    return Offer(
        cloud=c.cloud,
        instance_type=c.instance_type,
        vcpus=c.vcpus,
        memory_gib=c.memory_gib,
        price=c.hourly_cost,
        spot_price=c.hourly_cost if c.use_spot else None,
        region=c.region,
        zone=c.zone,
        accelerator_name=name,
        accelerator_count=count or 0,
    )


__all__ = ["EXPANDED_GROUPS", "build", "order_locations"]
