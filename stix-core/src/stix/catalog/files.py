"""Catalog folders under ``$STIX_HOME/catalogs/<cloud>/``: import, update, age.

Each folder holds ``vms.csv`` (and optionally ``images.csv``) in SkyPilot's v8
layout plus ``meta.json`` (``fetched_at`` epoch seconds, ``source``). Shared
files from an imported SkyPilot tree (``common/metadata.csv``) go to
``$STIX_HOME/catalogs/common/``.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
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
        if e.is_dir()
        and e.name != COMMON
        and not e.name.startswith(".")
        and os.path.isfile(os.path.join(e.path, "vms.csv"))
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


STALE_TEMP_SECONDS = 600.0


@contextmanager
def _cloud_lock(cloud: str, *, shared: bool = False) -> Iterator[None]:
    """Hold ``catalogs/.<cloud>.lock``: exclusive to install, shared to read a folder."""
    root = catalogs_dir()
    if shared and not root.is_dir():
        yield
        return
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / f".{cloud}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def reading(cloud: str) -> AbstractContextManager[None]:
    """Keep ``cloud``'s catalog folder from being swapped while it is read."""
    return _cloud_lock(cloud, shared=True)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(first: Path, second: Path) -> bool:
    """Swap two folders in one step (Linux ``renameat2``); ``False`` where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes
    import errno

    try:
        call = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    done = call(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    if done == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(second))


def _newest_mtime(folder: Path) -> float:
    newest = folder.stat().st_mtime
    for entry in os.scandir(folder):
        try:
            newest = max(newest, entry.stat(follow_symlinks=False).st_mtime)
        except OSError:
            continue
    return newest


def _clean_stale(cloud: str, now: float | None = None) -> None:
    """Remove ``.<cloud>.old-*`` / ``.<cloud>.new-*`` folders left by runs that were killed.

    Only folders untouched for :data:`STALE_TEMP_SECONDS` go, so the staging folder of
    an update still running in another process is left alone.
    """
    now = time.time() if now is None else now
    try:
        entries = list(os.scandir(catalogs_dir()))
    except OSError:
        return
    prefixes = (f".{cloud}.old-", f".{cloud}.new-")
    for entry in entries:
        if not entry.name.startswith(prefixes) or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            if now - _newest_mtime(Path(entry.path)) < STALE_TEMP_SECONDS:
                continue
        except OSError:
            continue
        shutil.rmtree(entry.path, ignore_errors=True)


def _not_installed(cloud: str, dest: Path, exc: OSError) -> CatalogError:
    reason = exc.strerror or type(exc).__name__
    return CatalogError(
        f"catalog for {cloud!r}: could not install it in {dest} ({reason}); "
        "the previous catalog was kept",
        hint="check the permissions and free space of $STIX_HOME/catalogs",
    )


def _install(staging: Path, cloud: str, source: str) -> Path:
    """Move a filled staging folder into place, replacing the old catalog.

    Installs of one cloud are serialised by a lock file; if the new folder cannot be
    moved in, the old catalog is put back and a :class:`CatalogError` is raised.
    """
    if not (staging / "vms.csv").is_file():
        raise CatalogError(f"catalog for {cloud!r} has no vms.csv", hint="check the source folder")
    from stix.catalog.rows import read_vms

    read_vms(staging / "vms.csv")  # validates the columns before replacing anything
    _write_meta(staging, source)
    dest = cloud_dir(cloud)
    with _cloud_lock(cloud):
        try:
            if dest.is_dir() and _exchange(staging, dest):
                return dest  # ``staging`` now holds the old catalog; the caller removes it
        except OSError as exc:
            raise _not_installed(cloud, dest, exc) from None
        old = Path(tempfile.mkdtemp(prefix=f".{cloud}.old-", dir=dest.parent))
        moved_aside = False
        try:
            if dest.exists():
                os.rename(dest, old / cloud)
                moved_aside = True
            os.rename(staging, dest)
        except OSError as exc:
            if moved_aside and not dest.exists():
                try:
                    os.rename(old / cloud, dest)
                except OSError:
                    pass
            if not (old / cloud).exists():
                shutil.rmtree(old, ignore_errors=True)
            raise _not_installed(cloud, dest, exc) from None
        shutil.rmtree(old, ignore_errors=True)
    return dest


def _staging(cloud: str) -> Path:
    root = catalogs_dir()
    root.mkdir(parents=True, exist_ok=True)
    _clean_stale(cloud)
    try:
        return Path(tempfile.mkdtemp(prefix=f".{cloud}.new-", dir=root))
    except OSError as exc:
        raise CatalogError(
            f"catalog for {cloud!r}: cannot write in {root} ({exc.strerror})"
        ) from None


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
                    try:
                        shutil.copyfile(folder / fname, staging / fname)
                    except OSError as exc:
                        raise CatalogError(
                            f"catalog import: cannot copy {folder / fname} ({exc.strerror})"
                        ) from None
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
    "reading",
    "seed_folders",
    "stale_hours",
    "update",
    "warn_if_stale",
]
