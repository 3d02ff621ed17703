"""Enumerate the offers that satisfy one resources candidate of a task.

Turns a ``Resources`` into catalog filters (per cloud where defaults differ),
asks the catalog or a live cloud, and drops blocked placements. No ranking
across tasks happens here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from stix.catalog.gcp_rows import TPU_VM
from stix.catalog.offer import Offer
from stix.catalog.query import Catalog, OfferFilter
from stix.errors import ResourcesUnavailableError
from stix.optimizer.plan import Blocked

if TYPE_CHECKING:
    from stix.task import Resources

# vCPUs requested when a task names nothing, for clouds whose plugin is not installed.
_DEFAULT_CPUS = {"lambda": "30+", "fluidstack": "6+"}
# General-purpose families preferred for the default instance (SQL LIKE patterns).
DEFAULT_FAMILIES: dict[str, tuple[str, ...]] = {
    "aws": ("m6i.%", "m6id.%", "m7i.%", "r6i.%", "r6id.%", "r7i.%", "c6i.%", "c6id.%", "c7i.%"),
    "gcp": (
        "n2-standard-%",
        "n2-highmem-%",
        "n2-highcpu-%",
        "n4-standard-%",
        "n4-highmem-%",
        "n4-highcpu-%",
    ),
    "azure": ("Standard_D%s_v5", "Standard_E%s_v5", "Standard_F%s_v2"),
}
DEFAULT_MEMORY_PER_CPU = 4.0
# Groups kept per request: the cheapest overall (for failover) plus the best per cloud.
GROUP_LIMIT = 8


@attrs.define
class Scope:
    """What the optimizer may use: the catalog, installed clouds, policy.

    :param catalog: the catalog cache handle (``None``: no catalog at all).
    :param clouds: installed clouds by name (instances of ``stix.interfaces.Cloud``).
    :param allowed: ``allowed_clouds`` from config, or ``None`` for all.
    :param blocked: placements to skip.
    """

    catalog: Catalog | None
    clouds: Mapping[str, Any]
    allowed: frozenset[str] | None = None
    blocked: tuple[Blocked, ...] = ()

    def cloud_names(self) -> list[str]:
        """Every cloud with a catalog or a plugin, filtered by ``allowed_clouds``."""
        names = set(self.clouds) | set(self.catalog.clouds if self.catalog else ())
        if self.allowed is not None:
            names &= self.allowed
        return sorted(names)

    def launchable(self, cloud: str) -> bool:
        """Whether the cloud's plugin is installed."""
        return cloud in self.clouds

    def hint(self, cloud: str) -> str | None:
        """How to make a cloud launchable, or ``None`` when it is."""
        return None if cloud in self.clouds else f"pip install stix-{cloud}"

    def note(self, offer: Offer, use_spot: bool) -> str | None:
        """What the offer's cloud says beside it in plans (its plugin's ``offer_note``)."""
        plugin = self.clouds.get(offer.cloud)
        return offer.note if plugin is None else plugin.offer_note(offer, use_spot)


@attrs.frozen
class Found:
    """Offers for one resources candidate plus why clouds were skipped."""

    offers: list[Offer]
    skipped: dict[str, str]
    accelerator_names: tuple[str, ...] | None = None


def resolve_accelerators(
    scope: Scope, resources: Resources
) -> tuple[tuple[str, ...] | None, float | None]:
    """Catalog names and count for the request's accelerator (``(None, None)`` if none).

    :raises stix.errors.ResourcesUnavailableError: no catalog knows the name.
    """
    from stix.catalog.accelerators import split_request, suggest

    acc = resources.accelerator()
    if acc is None:
        return None, None
    name, count = split_request(acc[0], acc[1])
    names = scope.catalog.resolve_accelerator(name) if scope.catalog else []
    live = _live_clouds(scope, resources)
    if not names and not live:
        known = list(scope.catalog.gpu_specs()) if scope.catalog else []
        close = suggest(name, known)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ResourcesUnavailableError(
            f"resources.accelerators: no catalog offers an accelerator named {name!r}",
            hint=f"{hint}see: stix gpus list".strip(),
        )
    if not names:
        names = [name]
    return tuple(names), count


def _live_clouds(scope: Scope, resources: Resources) -> list[str]:
    return [
        n
        for n in scope.cloud_names()
        if n in scope.clouds
        and not scope.clouds[n].uses_catalog
        and (resources.cloud is None or resources.cloud == n)
    ]


def base_filter(
    resources: Resources, names: tuple[str, ...] | None, count: float | None
) -> OfferFilter:
    """The catalog filter for ``resources`` without per-cloud defaults."""
    cpus = resources.cpus_request()
    memory = resources.memory_request()
    return OfferFilter(
        accelerators=names,
        accelerator_count=count,
        cpus=cpus[0] if cpus else None,
        cpus_at_least=cpus[1] if cpus else True,
        memory=memory[0] if memory else None,
        memory_at_least=memory[1] if memory else True,
        memory_per_cpu=resources.memory_per_cpu(),
        instance_type=resources.instance_type,
        region=resources.region,
        zone=resources.zone,
        use_spot=bool(resources.use_spot),
        max_price=resources.max_hourly_cost,
        # an instance type named alone may carry built-in accelerators (a3-highgpu-8g)
        with_or_without_accelerators=names is None and resources.instance_type is not None,
        default_hosts_only=names is not None
        and cpus is None
        and memory is None
        and resources.memory_per_cpu() is None
        and resources.instance_type is None,
    )


def needs_default(resources: Resources) -> bool:
    """True when the request names no accelerator, cpus, memory or instance type."""
    return (
        resources.accelerators is None
        and resources.cpus is None
        and resources.memory is None
        and resources.instance_type is None
    )


def _default_cpus(scope: Scope, cloud: str) -> float:
    plugin = scope.clouds.get(cloud)
    text = getattr(plugin, "default_cpus", None) or _DEFAULT_CPUS.get(cloud, "8+")
    return float(str(text).rstrip("+"))


def excluded_places(scope: Scope) -> tuple[tuple[str, str | None, str | None, str | None], ...]:
    """Blocked placements narrower than a whole cloud, as ``OfferFilter.excluded`` takes them."""
    return tuple(
        (b.cloud, b.region, b.zone, b.instance_type)
        for b in scope.blocked
        if b.region is not None or b.zone is not None or b.instance_type is not None
    )


def split_clouds(
    scope: Scope, resources: Resources, num_nodes: int
) -> tuple[list[str], list[str], dict[str, str]]:
    """The clouds to ask for ``resources``: ``(catalog clouds, live clouds, skipped)``.

    ``skipped`` maps each cloud left out to the reason (blocked, a feature
    the request needs, no catalog).
    """
    wanted = [resources.cloud] if resources.cloud else scope.cloud_names()
    skipped: dict[str, str] = {}
    whole_cloud_blocked = {
        b.cloud
        for b in scope.blocked
        if b.region is None and b.zone is None and b.instance_type is None
    }
    catalog_clouds: list[str] = []
    live: list[str] = []
    for cloud in wanted:
        if cloud in whole_cloud_blocked:
            skipped[cloud] = f"{cloud}: blocked after a provisioning failure"
            continue
        plugin = scope.clouds.get(cloud)
        if plugin is not None:
            reason = plugin.unsupported(resources, num_nodes)
            if reason:
                skipped[cloud] = reason
                continue
            if not plugin.uses_catalog:
                live.append(cloud)
                continue
        if scope.catalog is not None and cloud in scope.catalog.folders:
            catalog_clouds.append(cloud)
        else:
            skipped[cloud] = f"{cloud}: no catalog (stix catalog update {cloud})"
    return catalog_clouds, live, skipped


def find_offers(
    scope: Scope, resources: Resources, num_nodes: int, *, limit: int | None = GROUP_LIMIT
) -> Found:
    """Offers (best location per instance type) satisfying ``resources``.

    :param limit: keep the ``limit`` cheapest plus the best per cloud (``None``: all).
    :raises stix.errors.ResourcesUnavailableError: unknown cloud or accelerator.
    """
    names, count = resolve_accelerators(scope, resources)
    every = scope.cloud_names()
    if resources.cloud is not None and resources.cloud not in every:
        from stix.optimizer.diagnose import unknown_cloud

        raise unknown_cloud(scope, resources.cloud)
    catalog_clouds, live, skipped = split_clouds(scope, resources, num_nodes)
    flt = attrs.evolve(base_filter(resources, names, count), excluded=excluded_places(scope))
    tpu_host = None
    if (
        names
        and all(n.lower().startswith("tpu-") for n in names)
        and flt.instance_type not in (None, TPU_VM)
    ):
        # a TPU node: the TPU is attached to a host VM the user named
        tpu_host, flt = flt.instance_type, attrs.evolve(flt, instance_type=TPU_VM)
    offers: list[Offer] = []
    if catalog_clouds and scope.catalog is not None:
        if needs_default(resources):
            offers.extend(_default_offers(scope, flt, catalog_clouds, limit))
        elif names is None and flt.instance_type is None:
            offers.extend(_families_first(scope, flt, catalog_clouds, limit))
        else:
            flt_c = attrs.evolve(flt, clouds=tuple(catalog_clouds))
            got = scope.catalog.groups(flt_c, limit=limit, best_per_cloud=True)
            if not got and count is not None and not float(count).is_integer():
                # a fractional GPU is served by a whole one (the job gets its share)
                flt_c = attrs.evolve(flt_c, accelerator_count=float(math.ceil(count)))
                got = scope.catalog.groups(flt_c, limit=limit, best_per_cloud=True)
            if tpu_host is not None:
                got = _on_host(scope.catalog, flt_c, tpu_host)
            offers.extend(got)
    for cloud in live:
        flt_l = flt
        if needs_default(resources):
            flt_l = attrs.evolve(flt, cpus=_default_cpus(scope, cloud), cpus_at_least=True)
        try:
            got = scope.clouds[cloud].live_offers(resources, num_nodes)
        except Exception as exc:  # a live cloud that cannot answer is skipped, not fatal
            skipped[cloud] = f"{cloud}: {exc}"
            continue
        offers.extend(o for o in got if flt_l.accepts(_with_catalog_name(o, names)))
    offers.sort(
        key=lambda o: (o.hourly(flt.use_spot) or 0.0, o.price, o.cloud, o.instance_type or "")
    )
    return Found(offers, skipped, names)


def _families_first(
    scope: Scope, flt: OfferFilter, clouds: Sequence[str], limit: int | None
) -> list[Offer]:
    """CPU-only requests: each cloud's general-purpose x86 families when they fit, as
    SkyPilot does, so `cpus: 4+` does not land on an ARM or burstable machine by price
    alone; clouds without such a family (or none that fits) use every CPU-only machine.
    A cloud without general-purpose families and without a CPU-only machine that fits
    (Vast sells only GPU machines) offers its cheapest fitting machine with accelerators,
    as SkyPilot plans it there.

    One query covers every cloud; more run only for clouds left empty.
    """
    assert scope.catalog is not None
    preferred = tuple((c, DEFAULT_FAMILIES[c]) for c in clouds if c in DEFAULT_FAMILIES)
    flt_c = attrs.evolve(flt, clouds=tuple(clouds), cloud_families=preferred)
    out = scope.catalog.groups(flt_c, limit=limit, best_per_cloud=True)
    found = {o.cloud for o in out}
    empty = tuple(c for c, _ in preferred if c not in found)
    if empty:
        flt_e = attrs.evolve(flt, clouds=empty)
        out.extend(scope.catalog.groups(flt_e, limit=limit, best_per_cloud=True))
    gpu_only = tuple(c for c in clouds if c not in found and c not in DEFAULT_FAMILIES)
    if gpu_only:
        flt_g = attrs.evolve(flt, clouds=gpu_only, with_or_without_accelerators=True)
        out.extend(scope.catalog.groups(flt_g, limit=limit, best_per_cloud=True))
    return out


def _on_host(catalog: Catalog, flt: OfferFilter, host: str) -> list[Offer]:
    """TPU offers paired with ``host`` in the same zone (host price added)."""
    hosts = {
        (o.cloud, o.zone): o
        for o in catalog.locations(OfferFilter(clouds=flt.clouds, instance_type=host))
    }
    best: dict[tuple[object, ...], Offer] = {}
    for tpu in catalog.locations(flt):
        vm = hosts.get((tpu.cloud, tpu.zone))
        if vm is None:
            continue
        spot = (
            None
            if vm.spot_price is None or tpu.spot_price is None
            else vm.spot_price + tpu.spot_price
        )
        paired = attrs.evolve(
            tpu,
            instance_type=host,
            vcpus=vm.vcpus,
            memory_gib=vm.memory_gib,
            price=round(vm.price + tpu.price, 6),
            spot_price=spot,
        )
        key = (paired.cloud, paired.accelerator_name, paired.accelerator_count)
        if key not in best or (paired.hourly(flt.use_spot) or 0) < (
            best[key].hourly(flt.use_spot) or 0
        ):
            best[key] = paired
    return sorted(best.values(), key=lambda o: o.hourly(flt.use_spot) or 0.0)


def _with_catalog_name(offer: Offer, names: tuple[str, ...] | None) -> Offer:
    """Match live offers' accelerator names case-insensitively against the request."""
    if names is None or offer.accelerator_name is None:
        return offer
    for name in names:
        if name.lower() == offer.accelerator_name.lower():
            return attrs.evolve(offer, accelerator_name=name)
    return offer


def _default_offers(
    scope: Scope, flt: OfferFilter, clouds: Sequence[str], limit: int | None
) -> list[Offer]:
    """The default instance per cloud: ``default_cpus`` vCPUs, 4 GiB per vCPU, general families.

    A cloud without such a CPU-only machine gets its cheapest machine with
    enough vCPUs, accelerators included (as SkyPilot does on Lambda).
    """
    assert scope.catalog is not None
    out: list[Offer] = []
    for cloud in clouds:
        families = DEFAULT_FAMILIES.get(cloud, ())
        per_cloud = attrs.evolve(
            flt, clouds=(cloud,), cpus=_default_cpus(scope, cloud), cpus_at_least=True
        )
        got: list[Offer] = []
        if families:
            got = scope.catalog.groups(
                attrs.evolve(per_cloud, families=families, memory_per_cpu=DEFAULT_MEMORY_PER_CPU),
                limit=limit,
                best_per_cloud=True,
            )
        if not got:
            got = scope.catalog.groups(per_cloud, limit=limit, best_per_cloud=True)
        if not got:
            # clouds selling only GPU machines (Lambda): the default is the cheapest of those
            got = scope.catalog.groups(
                attrs.evolve(per_cloud, with_or_without_accelerators=True),
                limit=limit,
                best_per_cloud=True,
            )
        out.extend(got)
    return out


def locations(scope: Scope, resources: Resources, offer: Offer) -> list[Offer]:
    """Every unblocked location of ``offer``'s instance type, cheapest first."""
    if scope.catalog is None or offer.cloud not in scope.catalog.folders:
        return [offer]
    names = (offer.accelerator_name,) if offer.accelerator_name else None
    flt = attrs.evolve(
        base_filter(resources, names, offer.accelerator_count if names else None),
        clouds=(offer.cloud,),
        instance_type=offer.instance_type,
        cpus=None,
        memory=None,
        memory_per_cpu=None,
        default_hosts_only=False,
        excluded=excluded_places(scope),
    )
    return scope.catalog.locations(flt) or [offer]


__all__ = [
    "DEFAULT_FAMILIES",
    "Found",
    "Scope",
    "base_filter",
    "excluded_places",
    "find_offers",
    "locations",
    "needs_default",
    "resolve_accelerators",
]
