"""Explain an empty candidate set: which constraint excluded everything, and
the nearest request that would work.

The request's constraints are applied to the catalog one at a time (cloud,
accelerator, count, instance type, vCPUs, memory, region, zone, spot, price,
blocked places); the first one that leaves no row is the one named, with the
values the rows still matching the earlier constraints offer.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from stix.catalog.query import OfferFilter
from stix.errors import ResourcesUnavailableError
from stix.optimizer.candidates import (
    DEFAULT_FAMILIES,
    Scope,
    excluded_places,
    find_offers,
    needs_default,
    split_clouds,
)

if TYPE_CHECKING:
    from stix.catalog.offer import Offer
    from stix.catalog.query import Catalog
    from stix.task import Resources, Task

# Clouds whose capacity is read from live machines: there is no catalog to import.
LIVE_CLOUDS = frozenset({"kubernetes", "k8s", "ssh", "slurm", "local"})
_SHOWN = 6
T = TypeVar("T")


@attrs.frozen
class Why:
    """One candidate's diagnosis: the reason (names the field) and a hint."""

    reason: str
    hint: str | None = None
    # the request with the failing constraint changed to the suggestion
    relaxed: Resources | None = None


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
    if not parts:
        parts.append("default resources")
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
    return ", ".join(parts)


def _what(r: Resources) -> str:
    """The machine part of a request (accelerators, instance type, cpus, memory)."""
    plain = attrs.evolve(
        r, cloud=None, region=None, zone=None, use_spot=False, ports=None, image_id=None,
        max_hourly_cost=None,
    )  # fmt: skip
    return describe(plain)


def offer_text(o: Offer, use_spot: bool) -> str:
    """``type ACC:N on cloud/region/zone ($X/h)``."""
    acc = f" {o.accelerator_name}:{o.accelerator_count:g}" if o.accelerator_name else ""
    where = "/".join(p for p in (o.cloud, o.region, o.zone) if p)
    price = o.hourly(use_spot) or 0.0
    return f"{o.instance_type or '-'}{acc} on {where} (${price:.2f}/h)"


def _set(obj: T, field: str, value: object) -> T:
    """``obj`` with one field (named at run time) replaced."""
    change: dict[str, Any] = {field: value}
    return attrs.evolve(obj, **change)  # type: ignore[misc]


def _num(value: object) -> str:
    return f"{float(value):g}" if isinstance(value, (int, float)) else str(value)


def _listing(values: Sequence[object], limit: int = _SHOWN) -> str:
    shown = [_num(v) for v in values[:limit]]
    return ", ".join(shown) + (", ..." if len(values) > limit else "")


def _close(word: str, choices: Sequence[str], limit: int = 3) -> list[str]:
    lowered = {c.lower(): c for c in choices}
    found = difflib.get_close_matches(word.lower(), list(lowered), n=limit, cutoff=0.6)
    if not found:
        found = [c for c in lowered if c.startswith(word.lower()[:4])][:limit]
    return [lowered[f] for f in found]


def _nearest_number(values: Sequence[object], wanted: float, at_least: bool) -> float | None:
    numbers = sorted(float(v) for v in values if isinstance(v, (int, float)))
    if not numbers:
        return None
    if at_least:
        return numbers[-1]
    return min(numbers, key=lambda v: (abs(v - wanted), v < wanted))


def _catalog_why(catalog: Catalog, r: Resources, clouds: Sequence[str], scope: Scope) -> Why | None:
    """Apply ``r``'s constraints one by one over ``clouds``' catalogs; ``None`` if all pass."""
    on = f" on {r.cloud}" if r.cloud else ""
    flt = OfferFilter(clouds=tuple(clouds), with_or_without_accelerators=True)

    def empty(f: OfferFilter) -> bool:
        return not catalog.groups(f, limit=1)

    acc = r.accelerator()
    names: tuple[str, ...] | None = None
    if acc is not None:
        from stix.catalog.accelerators import split_request, suggest

        name, count = split_request(acc[0], acc[1])
        names = tuple(catalog.resolve_accelerator(name))
        if not names:
            close = suggest(name, list(catalog.gpu_specs()))
            return Why(
                f"resources.accelerators: no catalog offers an accelerator named {name!r}",
                (f"did you mean {', '.join(close)}? " if close else "") + "see: stix gpus list",
                attrs.evolve(r, accelerators={close[0]: acc[1]}) if close else None,
            )
        nxt = attrs.evolve(flt, accelerators=names, with_or_without_accelerators=False)
        if empty(nxt):
            elsewhere = catalog.values("cloud", OfferFilter(accelerators=names, clouds=None))
            return Why(
                f"resources.accelerators: {', '.join(clouds)} offer{'s' if len(clouds) == 1 else ''}"
                f" no {name}",
                f"{name} is offered on: {_listing(elsewhere)}; see: stix gpus list {name}",
                attrs.evolve(r, cloud=None, region=None, zone=None),
            )
        flt = nxt
        nxt = attrs.evolve(flt, accelerator_count=count)
        if empty(nxt) and not float(count).is_integer():
            nxt = attrs.evolve(flt, accelerator_count=float(-(-count // 1)))
        if empty(nxt):
            counts = catalog.values("acc_count", flt)
            top = max(float(c) for c in counts)  # type: ignore[arg-type]
            most = f"the most any offer{on} has is {top:g}; " if count > top else ""
            near_count = _nearest_number(counts, count, False) or top
            return Why(
                f"resources.accelerators: no offer{on} has {count:g} {name} ({most}counts offered:"
                f" {_listing(counts, 10)})",
                f"try {name}:{near_count:g}; see: stix gpus list {name}",
                attrs.evolve(
                    r,
                    accelerators={
                        acc[0]: int(near_count) if near_count.is_integer() else near_count
                    },
                ),
            )
        flt = nxt
    elif r.instance_type is None:
        nxt = attrs.evolve(flt, with_or_without_accelerators=False)
        # default resources, and CPU-only requests on clouds without general-purpose
        # families, may use a machine with accelerators (see candidates._families_first)
        gpu_machines = needs_default(r) or any(c not in DEFAULT_FAMILIES for c in clouds)
        if gpu_machines or not empty(nxt):
            flt = nxt if not empty(nxt) else flt
        else:
            return Why(
                f"resources.accelerators: every offer{on} has accelerators; none is CPU-only",
                "name an accelerator (--gpus NAME:COUNT); see: stix gpus list",
            )
    if r.instance_type is not None and not (names and all(n.startswith("tpu-") for n in names)):
        nxt = attrs.evolve(flt, instance_type=r.instance_type)
        if empty(nxt):
            alone = OfferFilter(
                clouds=tuple(clouds),
                instance_type=r.instance_type,
                with_or_without_accelerators=True,
            )
            have = catalog.cheapest(alone)
            if have is None:
                types = [str(t) for t in catalog.values("instance_type", OfferFilter(
                    clouds=tuple(clouds), with_or_without_accelerators=True))]  # fmt: skip
                close = _close(r.instance_type, types)
                return Why(
                    f"resources.instance_type: no catalog{on} has an instance type named"
                    f" {r.instance_type!r}",
                    f"did you mean {', '.join(close)}?" if close else "check the spelling",
                    attrs.evolve(r, instance_type=close[0]) if close else None,
                )
            gpus = (
                f"{have.accelerator_name}:{have.accelerator_count:g}"
                if have.accelerator_name
                else "no accelerator"
            )
            return Why(
                f"resources.instance_type: {r.instance_type} ({have.cloud}) has {gpus},"
                f" {have.vcpus:g} vCPUs and {have.memory_gib:g} GB, not what the task asks",
                "drop instance_type or the conflicting accelerators/cpus/memory",
                attrs.evolve(r, instance_type=None),
            )
        flt = nxt
    for field, label, wanted, column in (
        ("cpus", "vCPUs", r.cpus_request(), "vcpus"),
        ("memory", "GB of memory", r.memory_request(), "memory"),
    ):
        if wanted is None:
            continue
        value, at_least = wanted
        change: dict[str, Any] = {field: value, f"{field}_at_least": at_least}
        nxt = attrs.evolve(flt, **change)
        if empty(nxt):
            offered = catalog.values(column, flt)
            top = max((float(v) for v in offered if isinstance(v, (int, float))), default=0.0)
            plus = "+" if at_least else ""
            near = _nearest_number(offered, value, at_least)
            extra = (
                f"the most any matching offer{on} has is {top:g}"
                if at_least or value > top
                else f"nearest offered: {_num(near)}"
            )
            return Why(
                f"resources.{field}: no offer{on} has {value:g}{plus} {label} ({extra})",
                f"try {field}: {_num(near)}" if near is not None else None,
                _set(r, field, _num(near)) if near is not None else None,
            )
        flt = nxt
    if r.memory_per_cpu() is not None:
        nxt = attrs.evolve(flt, memory_per_cpu=r.memory_per_cpu())
        if empty(nxt):
            return Why(
                f"resources.memory: no offer{on} has {r.memory} GB per vCPU",
                "ask for a total, e.g. memory: 32+",
            )
        flt = nxt
    for field, place_name in (("region", r.region), ("zone", r.zone)):
        if place_name is None:
            continue
        nxt = _set(flt, field, place_name)
        if not empty(nxt):
            flt = nxt
            continue
        known = catalog.values(
            field, OfferFilter(clouds=tuple(clouds), with_or_without_accelerators=True)
        )
        if place_name not in known:
            close = _close(place_name, [str(k) for k in known])
            guess = (
                f"did you mean {', '.join(close)}? " if close else f"{field}s: {_listing(known)}; "
            )
            return Why(
                f"resources.infra: {', '.join(clouds)} has no {field} {place_name!r} in its"
                " catalog",
                f"{guess}if {place_name} is new, refresh the catalog: stix catalog update"
                f" {' '.join(clouds)}",
                _set(r, field, close[0]) if close and field == "zone" else None,
            )
        places: list[str] = []
        for o in catalog.locations(flt):
            place = o.region if field == "region" else o.zone
            if place and place not in places:
                places.append(place)
        return Why(
            f"resources.infra: {_what(r)} is not offered in {field} {place_name}",
            f"{field}s offering it, cheapest first: {_listing(places)}",
            _set(r, field, places[0]) if places else None,
        )
    if r.use_spot:
        nxt = attrs.evolve(flt, use_spot=True)
        if empty(nxt):
            spot_anywhere = OfferFilter(
                clouds=tuple(clouds), use_spot=True, with_or_without_accelerators=True
            )
            if empty(spot_anywhere):
                return Why(
                    f"resources.use_spot: {', '.join(clouds)} sells no spot instances",
                    "drop use_spot, or pick a cloud with spot: stix gpus list NAME",
                    attrs.evolve(r, use_spot=False),
                )
            cheapest = catalog.cheapest(flt)
            ondemand = f"; on-demand: {offer_text(cheapest, False)}" if cheapest else ""
            return Why(
                f"resources.use_spot: no spot price{on} for this request",
                f"drop use_spot{ondemand}",
                attrs.evolve(r, use_spot=False),
            )

        flt = nxt
    if r.max_hourly_cost is not None:
        nxt = attrs.evolve(flt, max_price=r.max_hourly_cost)
        if empty(nxt):
            cheapest = catalog.cheapest(flt)
            low = f" the cheapest is {offer_text(cheapest, bool(r.use_spot))}" if cheapest else ""
            return Why(
                f"resources.max_hourly_cost: nothing costs under ${r.max_hourly_cost:g}/h;{low}",
                "raise max_hourly_cost",
                attrs.evolve(r, max_hourly_cost=None),
            )
        flt = nxt
    excluded = excluded_places(scope)
    if excluded and empty(attrs.evolve(flt, excluded=excluded)):
        return Why(
            "every matching place is blocked after provisioning failures",
            "retry later, or widen infra",
        )
    return None


def _why(
    scope: Scope,
    r: Resources,
    num_nodes: int,
    launchable_only: bool,
    recorded: Mapping[str, str],
) -> Why:
    """Why no offer satisfies one resources candidate.

    ``recorded`` holds the reasons the search recorded, among them the error of a
    live cloud that could not answer (not asked again here).
    """
    catalog_clouds, live, skipped = split_clouds(scope, r, num_nodes)
    uninstalled: list[str] = []
    if launchable_only:
        uninstalled = [c for c in catalog_clouds if not scope.launchable(c)]
        for cloud in uninstalled:
            catalog_clouds.remove(cloud)
            skipped[cloud] = f"{cloud}: plugin not installed (pip install stix-{cloud})"
    if r.cloud and r.cloud in skipped:
        relaxed = attrs.evolve(r, cloud=None, region=None, zone=None)
        why = Why(skipped[r.cloud], "drop that request or use another infra", relaxed)
        return _with_nearest(scope, why, num_nodes)
    if catalog_clouds and scope.catalog is not None:
        found = _catalog_why(scope.catalog, r, catalog_clouds, scope)
        if found is not None:
            why = found
            fits = [c for c in uninstalled if _catalog_why(scope.catalog, r, [c], scope) is None]
            if fits:
                names = ", ".join(f"pip install stix-{c}" for c in fits)
                why = attrs.evolve(
                    why, reason=f"{why.reason}; {', '.join(fits)} would fit: {names}"
                )
            # clouds left out before the catalog was asked (a feature, a block) whose
            # catalog has the machine: their reason is the one that matters
            held = [
                reason
                for c, reason in skipped.items()
                if c in scope.catalog.folders
                and c not in uninstalled
                and _catalog_why(scope.catalog, r, [c], scope) is None
            ]
            if held:
                why = attrs.evolve(why, reason="; ".join([why.reason, *held[:3]]))
            return _with_nearest(scope, why, num_nodes)
    failed = [recorded[c] for c in live if c in recorded]
    if failed:
        return Why("; ".join(failed), "see: stix check")
    if live:
        return Why(
            f"{', '.join(live)} ha{'s' if len(live) == 1 else 've'} no machine that fits",
            "see: stix status, stix ssh up" if "ssh" in live else "see: stix check",
        )
    if skipped:
        return Why("; ".join(list(skipped.values())[:4]), "see: stix check, stix catalog ls")
    return Why(
        "no catalog is installed",
        "run: stix catalog update, or stix catalog import --format skypilot DIR",
    )


def _with_nearest(scope: Scope, why: Why, num_nodes: int) -> Why:
    """Append the cheapest offer of the relaxed request to the hint, when there is one."""
    if why.relaxed is None:
        return why
    try:
        found = find_offers(scope, why.relaxed, num_nodes, limit=1)
    except ResourcesUnavailableError:
        return why
    if not found.offers:
        return why
    near = f"nearest feasible: {offer_text(found.offers[0], bool(why.relaxed.use_spot))}"
    return attrs.evolve(why, hint=f"{why.hint}; {near}" if why.hint else near)


def unknown_cloud(scope: Scope, cloud: str) -> ResourcesUnavailableError:
    """The error for a task pinned to a cloud the optimizer cannot use."""
    if scope.allowed is not None and cloud not in scope.allowed:
        return ResourcesUnavailableError(
            f"resources.infra: cloud {cloud!r} is not in allowed_clouds"
            f" ({', '.join(sorted(scope.allowed)) or 'empty'})",
            hint="add it to allowed_clouds in the config, or pick another infra",
        )
    known = set(scope.clouds) | set(scope.catalog.clouds if scope.catalog else ())
    close = _close(cloud, sorted(known))
    if cloud in LIVE_CLOUDS:
        hint = f"its capacity is read from live machines: pip install stix-{cloud}"
    else:
        hint = f"pip install stix-{cloud}, or import its catalog: stix catalog import --format skypilot DIR"
    if close:
        hint = f"did you mean {', '.join(close)}? otherwise {hint}"
    return ResourcesUnavailableError(
        f"resources.infra: cloud {cloud!r} has no catalog and no installed plugin", hint=hint
    )


def unavailable(
    scope: Scope,
    task: Task,
    skipped: Mapping[str, str],
    launchable_only: bool = False,
) -> ResourcesUnavailableError:
    """The error to raise when no candidate satisfies ``task``'s resources."""
    label = f"task {task.name!r}: " if task.name else ""
    whys: list[tuple[Resources, Why]] = []
    for r in task.resources:
        try:
            whys.append((r, _why(scope, r, task.num_nodes, launchable_only, skipped)))
        except ResourcesUnavailableError as exc:
            whys.append((r, Why(exc.message, exc.hint)))
    if len(whys) == 1:
        r, why = whys[0]
        return ResourcesUnavailableError(
            f"{label}no offer satisfies {describe(r, task.num_nodes)}: {why.reason}",
            hint=why.hint,
        )
    parts = "; ".join(f"[{describe(r)}] {why.reason}" for r, why in whys)
    hint = next((why.hint for _, why in whys if why.hint), None)
    return ResourcesUnavailableError(
        f"{label}none of the {len(whys)} resources candidates fits: {parts}", hint=hint
    )


__all__ = ["Why", "describe", "offer_text", "unavailable", "unknown_cloud"]
