"""Which cloud names a task, ``--infra`` or ``allowed_clouds`` may use.

SkyPilot's clouds are always valid names (a missing plugin is reported at planning,
with the ``pip install stix-<cloud>`` hint); any other name must be a cloud that an
installed plugin registers or whose catalog was imported. Plugins are consulted only
for names outside SkyPilot's list, so loading a task stays cheap.

A region or zone is checked against the cloud's imported or fetched catalog while a user's
task file is loaded (:func:`checking_places`), and only when one is given: a task without a
region never opens a catalog. A plugin's seed is a small offline subset of the cloud's
regions, so it is never used to refuse one (planning still says when no offer is there).
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
from collections.abc import Iterator
from typing import Any

from stix.task.problems import Invalid

# SkyPilot 0.14's ALL_CLOUDS, plus this project's built-in ``local``.
KNOWN_CLOUDS = frozenset(
    {
        "aws", "azure", "gcp", "ibm", "lambda", "scp", "oci", "kubernetes", "runpod", "vast",
        "vsphere", "cudo", "fluidstack", "paperspace", "primeintellect", "do", "nebius", "ssh",
        "slurm", "hyperbolic", "seeweb", "shadeform", "yotta", "mithril", "verda", "local",
    }
)  # fmt: skip
# Clouds that only store data: valid in ``allowed_clouds``, not as a task's cloud.
STORAGE_CLOUDS = frozenset({"cloudflare", "coreweave", "vastdata", "huggingface"})


def _installed_names() -> set[str]:
    from stix.catalog.files import installed
    from stix.plugins import get_registry

    names = set(installed())
    try:
        names |= set(get_registry().clouds())
    except Exception:  # a broken plugin set must not hide the real problem (the name)
        pass
    return names


def check_cloud(name: str, *, storage: bool = False) -> None:
    """Raise ``Invalid`` naming close matches when ``name`` (lower case) is no cloud."""
    if name in KNOWN_CLOUDS or (storage and name in STORAGE_CLOUDS):
        return
    installed = _installed_names()
    if name in installed:
        return
    known = KNOWN_CLOUDS | installed | (STORAGE_CLOUDS if storage else frozenset())
    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.6)
    if close:
        message = f"unknown cloud {name!r}; did you mean {', '.join(close)}?"
    else:
        message = f"unknown cloud {name!r}"
    shown = sorted(installed | {"local", "ssh"})
    raise Invalid(
        message,
        hint=f"installed: {', '.join(shown)}; other clouds come as plugins (pip install stix-<cloud>)",
    )


# Set while a user's task file is loaded: regions and zones are then checked (a task
# read back from STIX's own state is not, so reading state never opens a catalog).
# Its value caches the catalogs opened during one load ({cloud: catalog or None}).
CHECK_PLACES: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "check_places", default=None
)
# Clouds whose "region" is no catalog region (a pool, a context) or that have no catalog.
_NO_CATALOG = frozenset({"kubernetes", "ssh", "local"})


def _catalog_for(cloud: str) -> object | None:
    """The imported or fetched catalog of ``cloud``, or None (a seed does not count)."""
    from stix.catalog.files import installed
    from stix.catalog.query import Catalog

    if cloud not in installed():
        return None
    catalog = Catalog(seeds={})
    if cloud not in catalog.clouds:
        catalog.close()
        return None
    return catalog


def _unknown(cloud: str, kind: str, name: str, known: list[str]) -> Invalid:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    if not close:
        close = [k for k in known if k.startswith(name[:4])][:3]
    listing = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
    message = f"{cloud} has no {kind} {name!r} in its catalog; " + (
        f"did you mean {', '.join(close)}?" if close else f"{kind}s: {listing}"
    )
    hint = f"if {name} is new, refresh the catalog: stix catalog update {cloud}"
    return Invalid(message, (kind,), hint)


def check_place(cloud: str | None, region: str | None, zone: str | None) -> None:
    """Raise ``Invalid`` when ``region`` or ``zone`` is not in ``cloud``'s catalog.

    Only inside :func:`checking_places` and the cloud's catalog is available; a
    catalog that cannot be read leaves the check to planning. The problem's path is
    ``region`` or ``zone``.
    """
    opened = CHECK_PLACES.get()
    if opened is None or cloud is None or cloud in _NO_CATALOG:
        return
    if region is None and zone is None:
        return
    from stix.errors import StixError

    if cloud not in opened:
        try:
            opened[cloud] = _catalog_for(cloud)
        except StixError:
            opened[cloud] = None
    catalog = opened[cloud]
    if catalog is None:
        return
    if region is not None:
        regions = catalog.regions(cloud)
        if regions and region not in regions:
            raise _unknown(cloud, "region", region, regions)
    if zone is not None:
        zones = catalog.zones(cloud, region)
        if zones and zone not in zones:
            raise _unknown(cloud, "zone", zone, zones)


@contextlib.contextmanager
def checking_places() -> Iterator[None]:
    """Check regions and zones against the catalogs while a user's file is loaded."""
    opened: dict[str, Any] = {}
    token = CHECK_PLACES.set(opened)
    try:
        yield
    finally:
        CHECK_PLACES.reset(token)
        for catalog in opened.values():
            if catalog is not None:
                catalog.close()


__all__ = [
    "CHECK_PLACES",
    "KNOWN_CLOUDS",
    "STORAGE_CLOUDS",
    "check_cloud",
    "check_place",
    "checking_places",
]
