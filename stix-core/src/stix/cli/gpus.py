"""``stix gpus list`` (alias ``stix show-gpus``): accelerators and their prices."""

from __future__ import annotations

import json
from typing import Any

import click

COMMON_GPUS = (
    "A10", "A10G", "A100", "A100-80GB", "B200", "GH200", "H100", "H100-MEGA", "H200", "L4",
    "L40S", "T4", "V100", "V100-32GB",
)  # fmt: skip
ROW_HEADERS = (
    "GPU", "QTY", "CLOUD", "INSTANCE_TYPE", "DEVICE_MEM", "vCPUs", "HOST_MEM", "HOURLY_PRICE",
    "HOURLY_SPOT_PRICE", "REGION",
)  # fmt: skip


def _count(value: float) -> str:
    return f"{value:g}"


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _money(value: float | None) -> str:
    return "-" if value is None else f"$ {value:.3f}"


def _mem(value: float | None) -> str:
    return "-" if not value else f"{round(value, 1):g}GB"


def _parse_infra(infra: str | None) -> tuple[str | None, str | None]:
    """``--infra`` read as a task's ``infra:`` (aliases, ``*``); the zone is not used."""
    if not infra:
        return None, None
    from stix.errors import StixError
    from stix.task.problems import Invalid
    from stix.task.values import parse_infra

    try:
        cloud, region, _ = parse_infra(infra)
    except Invalid as exc:
        raise StixError(f"gpus list --infra: {exc.message}", hint=exc.hint) from None
    return cloud, region


def _catalog() -> tuple[Any, set[str]]:
    from stix.catalog.files import seed_folders
    from stix.catalog.query import Catalog
    from stix.plugins import get_registry

    registry = get_registry()
    return Catalog(seeds=seed_folders(registry)), set(registry.clouds())


def _summary(
    catalog: Any, show_all: bool, cloud: str | None, installed: set[str]
) -> tuple[list[str], list[Any]]:
    from stix.table import table_lines

    counts = catalog.accelerator_counts([cloud] if cloud else None)
    common = [(n, c) for n, c in counts.items() if n in COMMON_GPUS]
    tpus: dict[str, list[str]] = {}
    other = []
    for name, cs in counts.items():
        if name.lower().startswith("tpu-"):
            family, _, size = name.rpartition("-")
            tpus.setdefault(family, []).append(size)
        elif name not in COMMON_GPUS:
            other.append((name, cs))
    lines: list[str] = []
    data: list[Any] = []

    def section(title: str, rows: list[tuple[str, str]]) -> None:
        if rows:
            lines.extend(table_lines([list(r) for r in rows], (title, "AVAILABLE_QUANTITIES")))
            lines.append("")

    section("COMMON_GPU", [(n, ", ".join(_count(c) for c in cs)) for n, cs in common])
    tpu_rows = []
    for family, sizes in sorted(tpus.items()):
        ordered = sorted(sizes, key=lambda s: int(s) if s.isdigit() else 0)
        shown = ordered if show_all else ordered[:6] + (["..."] if len(ordered) > 6 else [])
        tpu_rows.append((family, "sizes " + ", ".join(shown)))
    section("GOOGLE_TPU", tpu_rows)
    if show_all:
        section("OTHER_GPU", [(n, ", ".join(_count(c) for c in cs)) for n, cs in other])
    elif other:
        lines.append("OTHER_GPU: " + ", ".join(n for n, _ in other))
        lines.append("(stix gpus list --all shows their quantities)")
        lines.append("")
    data = [{"name": n, "quantities": [_number(c) for c in cs]} for n, cs in counts.items()]
    missing = sorted(set(catalog.clouds) - installed)
    if missing:
        lines.append(
            "Prices from catalogs of clouds not installed: "
            + ", ".join(missing)
            + " (pip install stix-<cloud> to launch there)"
        )
    return lines, data


def _details(
    catalog: Any,
    request: str,
    cloud: str | None,
    region: str | None,
    all_regions: bool,
    installed: set[str],
) -> tuple[list[str], list[dict[str, Any]]]:
    from stix.catalog.accelerators import split_request, suggest
    from stix.catalog.query import OfferFilter
    from stix.errors import StixError
    from stix.table import table_lines

    name, _, count_text = (
        request.partition(":")
        if ":" in request and "GB" not in request.upper()
        else (request, "", "")
    )
    count: float | None = None
    if count_text:
        try:
            count = float(count_text)
        except ValueError:
            raise StixError(
                f"gpus list: bad count in {request!r}; use NAME or NAME:COUNT"
            ) from None
    else:
        name, parsed = split_request(request, None)
        count = parsed if parsed != 1 or request.rstrip().endswith(":1") else None
    names = catalog.resolve_accelerator(name)
    if not names:
        close = suggest(name, catalog.gpu_specs())
        raise StixError(
            f"gpus list: no catalog offers an accelerator named {name!r}",
            hint=f"did you mean {', '.join(close)}?" if close else "run: stix gpus list --all",
        )
    flt = OfferFilter(
        clouds=(cloud,) if cloud else None,
        accelerators=tuple(names),
        accelerator_count=count,
        region=region,
        default_hosts_only=True,
    )
    if all_regions:
        per_region: dict[tuple[Any, ...], Any] = {}
        for o in catalog.locations(flt):  # cheapest first: keep one row per region
            per_region.setdefault((o.cloud, o.instance_type, o.accelerator_name, o.region), o)
        offers = list(per_region.values())
    else:
        offers = catalog.groups(flt)
    offers.sort(key=lambda o: (o.accelerator_name, o.accelerator_count, o.price, o.cloud))
    data = []
    rows = []
    for o in offers:
        mark = "" if o.cloud in installed else "*"
        spot = o.spot_price
        rows.append(
            [o.accelerator_name or "", _count(o.accelerator_count), o.cloud + mark, o.instance_type or "-",
             _mem(o.gpu_memory_gib), _count(o.vcpus) if o.vcpus else "-", _mem(o.memory_gib),
             _money(o.price), _money(spot), o.region or "-"]
        )  # fmt: skip
        data.append(
            {"accelerator": o.accelerator_name, "count": _number(o.accelerator_count), "cloud": o.cloud,
             "instance_type": o.instance_type, "device_memory_gib": o.gpu_memory_gib,
             "vcpus": o.vcpus, "memory_gib": o.memory_gib, "price": o.price, "spot_price": spot,
             "region": o.region, "zone": o.zone, "launchable": o.cloud in installed}
        )  # fmt: skip
    if not rows:
        where = f" on {cloud}" + (f"/{region}" if region else "") if cloud else ""
        qty = f":{count:g}" if count else ""
        raise StixError(
            f"gpus list: no offer for {name}{qty}{where}", hint=f"run: stix gpus list {name}"
        )
    lines = table_lines(rows, ROW_HEADERS)
    if any(not d["launchable"] for d in data):
        lines.append("* plugin not installed: pip install stix-<cloud> to launch there")
    return lines, data


def _check_infra(catalog: Any, cloud: str | None, region: str | None) -> None:
    """Fail with close names when ``--infra`` names a cloud or region no catalog has."""
    import difflib

    from stix.errors import StixError

    if cloud is not None and cloud not in catalog.clouds:
        close = difflib.get_close_matches(cloud, catalog.clouds, n=3, cutoff=0.5)
        raise StixError(
            f"gpus list --infra: no catalog for cloud {cloud!r}"
            f" (catalogs: {', '.join(catalog.clouds) or 'none'})",
            hint=f"did you mean {', '.join(close)}?"
            if close
            else f"import one: stix catalog import --format skypilot DIR, or pip install stix-{cloud}",
        )
    if cloud is not None and region is not None:
        regions = catalog.regions(cloud)
        if region not in regions:
            close = difflib.get_close_matches(region, regions, n=3, cutoff=0.6)
            raise StixError(
                f"gpus list --infra: {cloud} has no region {region!r} in its catalog",
                hint=f"did you mean {', '.join(close)}?"
                if close
                else f"regions: {', '.join(regions[:8])}",
            )


LIVE_HEADERS = ("GPU", "FREE", "TOTAL", "MAX_FREE_PER_NODE", "NODES", "REGION")


def _live_gpus(cloud: str, region: str | None, accelerator: str | None, as_json: bool) -> bool:
    """Print what a live cloud (``uses_catalog = False``) has free now.

    :returns: False when the cloud reports nothing live (see
        :meth:`stix.interfaces.Cloud.gpu_availability`); the catalogs answer then.
    """
    from stix.errors import StixError
    from stix.plugins import get_registry
    from stix.table import table_lines

    try:
        obj = get_registry().cloud(cloud)
    except StixError:
        return False  # not installed: the catalogs may still know it
    rows = None if obj.uses_catalog else obj.gpu_availability(region)
    if rows is None:
        return False
    if accelerator:
        wanted = accelerator.partition(":")[0].lower()
        rows = [r for r in rows if str(r["accelerator"]).lower() == wanted]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return True
    if not rows:
        where = f"{cloud}/{region}" if region else cloud
        raise StixError(f"gpus list: no GPUs on {where} right now" + (
            f" named {accelerator}" if accelerator else ""))  # fmt: skip
    table = [
        [str(r["accelerator"]), _count(r["free"]), _count(r["total"]), _count(r["max_per_node"]),
         str(r["nodes"]), str(r.get("region") or "-")]
        for r in rows
    ]  # fmt: skip
    lines = table_lines(table, LIVE_HEADERS)
    if any(r.get("autoscaling") for r in rows):
        names = ", ".join(sorted({str(r["accelerator"]) for r in rows if r.get("autoscaling")}))
        lines.append(f"autoscaling node pools can add: {names} (not counted above)")
    click.echo("\n".join(lines))
    return True


@click.group()
def gpus() -> None:
    """Accelerators offered by every catalog, with prices.

    \b
    Examples:
        stix gpus list
        stix gpus list A100:8 --all-regions
    """


@gpus.command("list")
@click.argument("accelerator", required=False, metavar="[NAME[:COUNT]]")
@click.option("--all", "-a", "show_all", is_flag=True, help="Show every accelerator and quantity.")
@click.option("--infra", help="Only this cloud[/region].")
@click.option("--all-regions", is_flag=True, help="One row per region instead of the cheapest.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--verbose", "-v", is_flag=True, hidden=True)
def list_gpus(
    accelerator: str | None,
    show_all: bool,
    infra: str | None,
    all_regions: bool,
    as_json: bool,
    verbose: bool,
) -> None:
    """List accelerators, or the instance types and prices of NAME[:COUNT].

    \b
    Examples:
        stix gpus list
        stix gpus list A100:8
        stix gpus list H100 --infra gcp --all-regions
    """
    from stix.catalog.files import warn_if_stale

    cloud, region = _parse_infra(infra)
    if cloud is not None and _live_gpus(cloud, region, accelerator, as_json):
        return
    catalog, installed = _catalog()
    _check_infra(catalog, cloud, region)
    warn_if_stale([cloud] if cloud else catalog.clouds, catalog.folders)
    if accelerator:
        lines, data = _details(catalog, accelerator, cloud, region, all_regions, installed)
    else:
        lines, data = _summary(catalog, show_all, cloud, installed)
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo("\n".join(lines).rstrip())


show_gpus = click.Command(
    "show-gpus",
    callback=list_gpus.callback,
    params=list_gpus.params,
    help=list_gpus.help,
    hidden=True,
)

__all__ = ["gpus", "list_gpus", "show_gpus"]
