"""Catalog folders under ``$STIX_HOME/catalogs/<cloud>/``: import, update, age.

Each folder holds ``vms.csv`` (and optionally ``images.csv``) in SkyPilot's v8
layout plus ``meta.json`` (``fetched_at`` epoch seconds, ``source``). Shared
files from an imported SkyPilot tree (``common/metadata.csv``) go to
``$STIX_HOME/catalogs/common/``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from stix.errors import CatalogError

COMMON = "common"
CATALOG_FILES = ("vms.csv", "images.csv")
COMMON_FILES = ("metadata.csv", "accelerators.csv")
DEFAULT_STALE_HOURS = 168.0


def catalogs_dir() -> Path:
    """``$STIX_HOME/catalogs``."""
    from stix.config import stix_home

    return stix_home() / "catalogs"


def cloud_dir(cloud: str) -> Path:
    """The folder of one cloud's catalog (it may not exist)."""
    return catalogs_dir() / cloud


def installed() -> dict[str, Path]:
    """``{cloud: folder}`` for every cloud with a ``vms.csv`` under ``$STIX_HOME``."""
    root = catalogs_dir()
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return {}
    return {
        e.name: Path(e.path)
        for e in entries
        if e.is_dir() and e.name != COMMON and os.path.isfile(os.path.join(e.path, "vms.csv"))
    }


def seed_folders(registry: Any) -> dict[str, Path]:
    """``{cloud: folder}`` of the seed catalogs the registry's plugins ship.

    A plugin whose ``seed()`` fails is skipped, so one broken install cannot
    stop the clouds that work from being listed or planned.
    """
    seeds: dict[str, Path] = {}
    for name, source in registry.catalog_sources().items():
        try:
            folder = source.seed()
        except Exception:
            continue
        if folder is not None:
            seeds[name] = folder
    return seeds


def read_meta(folder: Path) -> dict[str, Any]:
    """The folder's ``meta.json`` (``{}`` when missing or unreadable)."""
    try:
        data = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def age_hours(folder: Path, now: float | None = None) -> float | None:
    """Hours since the catalog was fetched; ``None`` when unknown."""
    fetched = read_meta(folder).get("fetched_at")
    if not isinstance(fetched, (int, float)):
        try:
            fetched = (folder / "vms.csv").stat().st_mtime
        except OSError:
            return None
    return max(0.0, ((now or time.time()) - float(fetched)) / 3600.0)


def stale_hours() -> float:
    """Configured age after which a catalog is called stale (``catalog.stale_hours``)."""
    try:
        from stix.config import load_config

        value = load_config().get("catalog.stale_hours", DEFAULT_STALE_HOURS)
        return float(value)
    except Exception:
        return DEFAULT_STALE_HOURS


def warn_if_stale(clouds: Iterable[str], folders: Mapping[str, Path] | None = None) -> None:
    """Print one line on stderr naming catalogs older than ``catalog.stale_hours``."""
    folders = installed() if folders is None else folders
    limit = stale_hours()
    old: list[str] = []
    fetched: list[str] = []
    imported: list[str] = []
    for cloud in sorted(set(clouds)):
        folder = folders.get(cloud)
        age = age_hours(folder) if folder is not None else None
        if folder is None or age is None or age <= limit:
            continue
        old.append(f"{cloud} ({age_text(age)})")
        source = str(read_meta(folder).get("source", ""))
        if source.startswith("import:"):
            imported.append(str(Path(source[len("import:") :]).parent))
        else:
            fetched.append(cloud)
    if old:
        how = []
        if fetched:
            how.append(f"stix catalog update {' '.join(fetched)}")
        for src in sorted(set(imported)):
            how.append(f"stix catalog import --format skypilot {src}")
        print(
            f"hint: catalog is old for {', '.join(old)}; refresh with: {'; '.join(how)}",
            file=sys.stderr,
        )


def age_text(hours: float) -> str:
    """``45m``, ``7h`` or ``12d``."""
    if hours < 1:
        return f"{hours * 60:.0f}m"
    if hours < 48:
        return f"{hours:.0f}h"
    return f"{hours / 24:.0f}d"


def _write_meta(folder: Path, source: str) -> None:
    meta = {"fetched_at": time.time(), "source": source}
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


def _install(staging: Path, cloud: str, source: str) -> Path:
    """Move a filled staging folder into place atomically (replacing the old catalog)."""
    if not (staging / "vms.csv").is_file():
        raise CatalogError(f"catalog for {cloud!r} has no vms.csv", hint="check the source folder")
    from stix.catalog.rows import read_vms

    read_vms(staging / "vms.csv")  # validates the columns before replacing anything
    _write_meta(staging, source)
    dest = cloud_dir(cloud)
    old = dest.with_name(f".{cloud}.old-{os.getpid()}")
    if dest.exists():
        dest.rename(old)
    staging.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
    return dest


def _staging(cloud: str) -> Path:
    root = catalogs_dir()
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{cloud}.new-", dir=root))


def import_skypilot(source: Path, cloud: str | None = None) -> dict[str, Path]:
    """Import a SkyPilot v8 catalog folder.

    :param source: either a tree with one sub-folder per cloud (and ``common/``)
        or, with ``cloud`` given, a single cloud's folder holding ``vms.csv``.
    :param cloud: import only this cloud.
    :returns: ``{cloud: installed folder}``.
    :raises stix.errors.CatalogError: nothing importable was found.
    """
    source = source.expanduser()
    if not source.is_dir():
        raise CatalogError(f"catalog import: {source} is not a folder")
    if (source / "vms.csv").is_file():
        name = cloud or source.name.lower()
        pairs = [(name, source)]
    else:
        pairs = [
            (p.name.lower(), p)
            for p in sorted(source.iterdir())
            if p.is_dir()
            and (p / "vms.csv").is_file()
            and (cloud is None or p.name.lower() == cloud)
        ]
    if not pairs:
        wanted = f" for cloud {cloud!r}" if cloud else ""
        raise CatalogError(
            f"catalog import: no vms.csv found{wanted} in {source}",
            hint="pass a SkyPilot catalogs/v8 folder, or a cloud folder with --cloud",
        )
    done: dict[str, Path] = {}
    for name, folder in pairs:
        staging = _staging(name)
        try:
            for fname in CATALOG_FILES:
                if (folder / fname).is_file():
                    shutil.copyfile(folder / fname, staging / fname)
            done[name] = _install(staging, name, f"import:{folder.resolve()}")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    common = source / COMMON
    if common.is_dir():
        dest = catalogs_dir() / COMMON
        dest.mkdir(parents=True, exist_ok=True)
        for fname in COMMON_FILES:
            if (common / fname).is_file():
                shutil.copyfile(common / fname, dest / fname)
    return done


def update(cloud: str, catalog_source: Any) -> Path:
    """Refresh one cloud's catalog through its plugin's ``CatalogSource.fetch``.

    :raises stix.errors.CatalogError: the fetcher wrote no usable ``vms.csv``.
    """
    staging = _staging(cloud)
    try:
        catalog_source.fetch(staging)
        return _install(staging, cloud, f"fetch:{type(catalog_source).__module__}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


__all__ = [
    "DEFAULT_STALE_HOURS",
    "age_hours",
    "age_text",
    "catalogs_dir",
    "cloud_dir",
    "import_skypilot",
    "installed",
    "read_meta",
    "seed_folders",
    "stale_hours",
    "update",
    "warn_if_stale",
]
