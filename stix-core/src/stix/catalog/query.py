"""Query the catalog cache: the offers one request needs, cheapest first.

``Catalog`` is the handle the optimizer and ``stix gpus`` use. Each query
selects only matching rows through the cache's indexes; location-free queries
read the per-instance-type summary table instead of every region's row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path

import attrs

from stix.catalog import files
from stix.catalog.accelerators import GpuSpec, resolve
from stix.catalog.cache import CACHE_NAME, connect, discard, refresh
from stix.catalog.gcp_rows import PAIRED_OTHER
from stix.catalog.offer import Offer

_VALUE_COLUMNS = frozenset(
    {"cloud", "instance_type", "acc", "acc_count", "vcpus", "memory", "region", "zone"}
)
_COLUMNS = "cloud, instance_type, acc, acc_count, vcpus, memory, gpu_mem, price, spot, region, zone"


@attrs.frozen
class OfferFilter:
    """What a request allows; ``None`` fields do not constrain.

    ``accelerators``: catalog names (``None``: only rows without accelerators,
    unless ``any_accelerator``, or ``with_or_without_accelerators`` for both). ``cpus``/``memory`` with ``*_at_least`` for the
    ``N+`` form; ``memory_per_cpu`` for the ``Nx`` form. ``families``: SQL
    ``LIKE`` patterns on the instance type; ``cloud_families``: the same, per
    cloud (``((cloud, patterns), ...)``; other clouds are not constrained). ``default_hosts_only``: for
    accelerators attached to a host VM, keep only the default host.
    """

    clouds: tuple[str, ...] | None = None
    accelerators: tuple[str, ...] | None = None
    any_accelerator: bool = False
    with_or_without_accelerators: bool = False
    accelerator_count: float | None = None
    cpus: float | None = None
    cpus_at_least: bool = True
    memory: float | None = None
    memory_at_least: bool = True
    memory_per_cpu: float | None = None
    instance_type: str | None = None
    region: str | None = None
    zone: str | None = None
    use_spot: bool = False
    max_price: float | None = None
    families: tuple[str, ...] = ()
    cloud_families: tuple[tuple[str, tuple[str, ...]], ...] = ()
    default_hosts_only: bool = False
    excluded: tuple[tuple[str, str | None, str | None, str | None], ...] = ()

    @property
    def needs_locations(self) -> bool:
        """Whether the filter depends on region/zone (so the summary table cannot answer)."""
        return (
            self.region is not None
            or self.zone is not None
            or any(r is not None or z is not None for _, r, z, _ in self.excluded)
        )

    def accepts(self, offer: Offer) -> bool:
        """The same test as :meth:`where`, for offers built in Python (live offers)."""
        if self.clouds is not None and offer.cloud not in self.clouds:
            return False
        if self.accelerators is not None:
            if offer.accelerator_name not in self.accelerators:
                return False
        elif self.any_accelerator:
            if not offer.accelerator_name:
                return False
        elif self.with_or_without_accelerators:
            pass
        elif offer.accelerator_name:
            return False
        if (
            self.accelerator_count is not None
            and abs(offer.accelerator_count - self.accelerator_count) > 0.01
        ):
            return False
        if self.cpus is not None and not _fits(offer.vcpus, self.cpus, self.cpus_at_least):
            return False
        if self.memory is not None and not _fits(
            offer.memory_gib, self.memory, self.memory_at_least
        ):
            return False
        if (
            self.memory_per_cpu is not None
            and offer.memory_gib < offer.vcpus * self.memory_per_cpu - 0.01
        ):
            return False
        for wanted, have in (
            (self.instance_type, offer.instance_type),
            (self.region, offer.region),
            (self.zone, offer.zone),
        ):
            if wanted is not None and wanted != have:
                return False
        price = offer.hourly(self.use_spot)
        if price is None or (self.max_price is not None and price > self.max_price + 1e-9):
            return False
        for cloud, region, zone, itype in self.excluded:
            if (
                cloud == offer.cloud
                and region in (None, offer.region)
                and zone in (None, offer.zone)
                and itype in (None, offer.instance_type)
            ):
                return False
        for cloud, patterns in self.cloud_families:
            if offer.cloud == cloud and not any(
                _like(p, offer.instance_type or "") for p in patterns
            ):
                return False
        return not self.families or any(_like(p, offer.instance_type or "") for p in self.families)

    def where(self) -> tuple[str, list[object]]:
        """The SQL condition and its parameters."""
        sql: list[str] = []
        args: list[object] = []
        if self.clouds is not None:
            sql.append(f"cloud IN ({','.join('?' * len(self.clouds))})")
            args.extend(self.clouds)
        if self.accelerators is not None:
            sql.append(f"acc IN ({','.join('?' * len(self.accelerators))})")
            args.extend(self.accelerators)
        elif self.any_accelerator:
            sql.append("acc IS NOT NULL")
        elif self.with_or_without_accelerators:
            pass
        else:
            sql.append("acc IS NULL")
        if self.accelerator_count is not None:
            sql.append("acc_count BETWEEN ? AND ?")
            args.extend((self.accelerator_count - 0.01, self.accelerator_count + 0.01))
        if self.cpus is not None:
            if self.cpus_at_least:
                sql.append("vcpus >= ?")
                args.append(self.cpus - 1e-6)
            else:
                sql.append("vcpus BETWEEN ? AND ?")
                args.extend((self.cpus - 0.01, self.cpus + 0.01))
        if self.memory is not None:
            if self.memory_at_least:
                sql.append("memory >= ?")
                args.append(self.memory - 0.01)
            else:
                sql.append("memory BETWEEN ? AND ?")
                args.extend((self.memory - 0.01, self.memory + 0.01))
        if self.memory_per_cpu is not None:
            sql.append("memory >= vcpus * ? - 0.01")
            args.append(self.memory_per_cpu)
        if self.instance_type is not None:
            sql.append("instance_type = ?")
            args.append(self.instance_type)
        if self.region is not None:
            sql.append("region = ?")
            args.append(self.region)
        if self.zone is not None:
            sql.append("zone = ?")
            args.append(self.zone)
        price = "spot" if self.use_spot else "price"
        if self.use_spot:
            sql.append("spot IS NOT NULL")
        if self.max_price is not None:
            sql.append(f"{price} <= ?")
            args.append(self.max_price + 1e-9)
        if self.families:
            sql.append("(" + " OR ".join("instance_type LIKE ?" for _ in self.families) + ")")
            args.extend(self.families)
        for cloud, patterns in self.cloud_families:
            likes = " OR ".join("instance_type LIKE ?" for _ in patterns)
            sql.append(f"NOT (cloud = ? AND NOT ({likes}))")
            args.extend((cloud, *patterns))
        if self.default_hosts_only:
            sql.append("kind < ?")
            args.append(PAIRED_OTHER)
        for cloud, region, zone, itype in self.excluded:
            parts = ["cloud = ?"]
            args.append(cloud)
            for column, value in (("region", region), ("zone", zone), ("instance_type", itype)):
                if value is not None:
                    parts.append(f"{column} IS ?")
                    args.append(value)
            sql.append(f"NOT ({' AND '.join(parts)})")
        return " AND ".join(sql) or "1", args


def _fits(have: float, want: float, at_least: bool) -> bool:
    return have >= want - 1e-6 if at_least else abs(have - want) <= 0.01


def _like(pattern: str, text: str) -> bool:
    """SQL ``LIKE`` (``%`` wildcard only, case-insensitive) in Python."""
    import fnmatch

    return fnmatch.fnmatch(text.lower(), pattern.lower().replace("%", "*"))


def _offer(row: tuple, gpus: Mapping[str, GpuSpec]) -> Offer:
    cloud, itype, acc, count, vcpus, memory, gpu_mem, price, spot, region, zone = row
    if acc is not None and acc in gpus:
        gpu_mem = gpus[acc].memory_gib
    return Offer(
        cloud=cloud,
        instance_type=itype,
        accelerator_name=acc,
        accelerator_count=count,
        vcpus=vcpus,
        memory_gib=memory,
        gpu_memory_gib=gpu_mem,
        price=price,
        spot_price=spot,
        region=region,
        zone=zone,
    )


class Catalog:
    """Read access to every installed catalog through the SQLite cache.

    :param folders: ``{cloud: folder}`` to serve; defaults to the catalogs
        under ``$STIX_HOME`` plus ``seeds`` for clouds without one.
    :param seeds: shipped seed folders of installed plugins.
    :param cache: cache database path (default under ``$STIX_HOME/catalogs``).
    """

    def __init__(
        self,
        folders: Mapping[str, Path] | None = None,
        *,
        seeds: Mapping[str, Path] | None = None,
        cache: Path | None = None,
    ) -> None:
        found = dict(files.installed()) if folders is None else dict(folders)
        for cloud, folder in (seeds or {}).items():
            if cloud not in found and (folder / "vms.csv").is_file():
                found[cloud] = folder
        self.folders = found
        common = files.catalogs_dir() / files.COMMON
        path = cache or files.catalogs_dir() / CACHE_NAME
        self._conn: sqlite3.Connection = connect(path)
        try:
            self.rebuilt = refresh(self._conn, found, common if common.is_dir() else None)
        except sqlite3.DatabaseError:  # a damaged cache: it is only a cache, so rebuild it
            self._conn.close()
            discard(path)
            self._conn = connect(path)
            self.rebuilt = refresh(self._conn, found, common if common.is_dir() else None)
        self._gpus: dict[str, GpuSpec] | None = None

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()

    @property
    def clouds(self) -> list[str]:
        """Clouds with a catalog, sorted."""
        return sorted(self.folders)

    def gpu_specs(self) -> dict[str, GpuSpec]:
        """Every accelerator name in the catalogs with its device memory."""
        if self._gpus is None:
            self._gpus = {
                name: GpuSpec(name, memory, maker)
                for name, memory, maker in self._conn.execute(
                    "SELECT name, memory, manufacturer FROM gpus"
                )
            }
        return self._gpus

    def resolve_accelerator(self, name: str) -> list[str]:
        """Catalog names matching a requested accelerator (see :func:`resolve`)."""
        return resolve(name, self.gpu_specs())

    def groups(
        self, flt: OfferFilter, limit: int | None = None, best_per_cloud: bool = False
    ) -> list[Offer]:
        """The cheapest location of each matching instance type, cheapest first.

        :param limit: keep only the ``limit`` cheapest (``None``: all) ...
        :param best_per_cloud: ... plus the cheapest of every cloud and accelerator.
        """
        where, args = flt.where()
        price = "spot" if flt.use_spot else "price"
        if not flt.needs_locations:
            # the summary holds each group's cheapest location, so max_price stays exact
            columns = _COLUMNS
            if flt.use_spot:  # the spot price peaks elsewhere than the on-demand one
                columns = columns.replace(
                    "region, zone", "spot_region AS region, spot_zone AS zone"
                )
            inner = f"SELECT {columns}, {price} AS best FROM groups WHERE {where}"
        else:
            # bare columns come from the row holding MIN(price)
            inner = (
                f"SELECT {_COLUMNS}, MIN({price}) AS best FROM offers WHERE {where}"
                " GROUP BY cloud, instance_type, acc, acc_count"
            )
        # equal prices (spot prices a catalog gives as 0.00) go by the on-demand price
        order = " ORDER BY best, price, cloud, instance_type"
        rows = self._conn.execute(
            inner + order + (f" LIMIT {int(limit)}" if limit is not None else ""), args
        ).fetchall()
        if best_per_cloud and limit is not None:
            seen = {row[:4] for row in rows}
            per_cloud = f"SELECT *, MIN(best) FROM ({inner}) GROUP BY cloud, acc"
            extra = [r for r in self._conn.execute(per_cloud, args) if r[:4] not in seen]
            rows = sorted([*rows, *extra], key=lambda r: (r[11], r[7], r[0], r[1] or ""))
        gpus = self.gpu_specs()
        return [_offer(row[:11], gpus) for row in rows]

    def locations(self, flt: OfferFilter) -> list[Offer]:
        """Every matching row (one per region/zone), cheapest first."""
        where, args = flt.where()
        price = "spot" if flt.use_spot else "price"
        sql = f"SELECT {_COLUMNS} FROM offers WHERE {where} ORDER BY {price}, region, zone"
        gpus = self.gpu_specs()
        return [_offer(row, gpus) for row in self._conn.execute(sql, args)]

    def values(self, column: str, flt: OfferFilter) -> list[object]:
        """Distinct non-null values of ``column`` over the rows ``flt`` matches, sorted.

        :param column: one of ``cloud``, ``instance_type``, ``acc``, ``acc_count``,
            ``vcpus``, ``memory``, ``region``, ``zone``.
        """
        if column not in _VALUE_COLUMNS:
            raise ValueError(f"cannot list values of {column!r}")
        where, args = flt.where()
        sql = f"SELECT DISTINCT {column} FROM offers WHERE {where} AND {column} IS NOT NULL"
        return sorted(v for (v,) in self._conn.execute(sql + f" ORDER BY {column}", args))

    def cheapest(self, flt: OfferFilter) -> Offer | None:
        """The cheapest row ``flt`` matches (any location), or ``None``."""
        where, args = flt.where()
        price = "spot" if flt.use_spot else "price"
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM offers WHERE {where} ORDER BY {price}, cloud LIMIT 1", args
        ).fetchone()
        return None if row is None else _offer(row, self.gpu_specs())

    def accelerator_counts(self, clouds: Iterable[str] | None = None) -> dict[str, list[float]]:
        """``{accelerator: sorted counts offered}`` across ``clouds`` (default all)."""
        sql = "SELECT DISTINCT acc, acc_count FROM groups WHERE acc IS NOT NULL"
        args: list[object] = []
        if clouds is not None:
            names = list(clouds)
            sql += f" AND cloud IN ({','.join('?' * len(names))})"
            args.extend(names)
        out: dict[str, list[float]] = {}
        for name, count in self._conn.execute(sql, args):
            out.setdefault(name, []).append(count)
        return {name: sorted(set(counts)) for name, counts in sorted(out.items())}

    def row_counts(self) -> dict[str, int]:
        """Offers per cloud (after pairing GCP accelerators with hosts)."""
        return dict(
            self._conn.execute("SELECT cloud, COUNT(*) FROM offers GROUP BY cloud").fetchall()
        )

    def regions(self, cloud: str) -> list[str]:
        """Regions of ``cloud`` present in its catalog."""
        rows = self._conn.execute(
            "SELECT DISTINCT region FROM offers WHERE cloud = ? AND region IS NOT NULL ORDER BY region",
            (cloud,),
        )
        return [r for (r,) in rows]

    def zones(self, cloud: str, region: str | None = None) -> list[str]:
        """Zones of ``cloud`` (optionally of one region)."""
        sql = "SELECT DISTINCT zone FROM offers WHERE cloud = ? AND zone IS NOT NULL"
        args: list[object] = [cloud]
        if region is not None:
            sql += " AND region = ?"
            args.append(region)
        return [z for (z,) in self._conn.execute(sql + " ORDER BY zone", args)]

    def image(self, cloud: str, tag: str, region: str | None = None) -> str | None:
        """The image id for a ``skypilot:...`` style tag, or ``None``."""
        for image, reg in self._conn.execute(
            "SELECT image_id, region FROM images WHERE cloud = ? AND tag = ?", (cloud, tag)
        ):
            if reg is None or reg == region:
                return image
        return None


def catalog_places(cloud: str) -> tuple[list[str], list[str]]:
    """``(regions, zones)`` of ``cloud`` in its installed (or shipped seed) catalog.

    For a provisioner that must look in every place it may have launched, such as
    :meth:`stix.interfaces.Provisioner.list_clusters`.
    """
    from stix.catalog.files import seed_folders
    from stix.plugins import get_registry

    catalog = Catalog(seeds=seed_folders(get_registry()))
    try:
        return catalog.regions(cloud), catalog.zones(cloud)
    finally:
        catalog.close()


__all__ = ["Catalog", "OfferFilter", "catalog_places"]
