"""What happens to recorded buckets later: release with a cluster, list, delete."""

from __future__ import annotations

import sys
from typing import Any

import attrs

from stix.errors import StixError
from stix.storage import stores
from stix.storage.state import StorageRecord, StorageTable


def release_cluster(cluster: str) -> list[str]:
    """Forget ``cluster`` in the storage table after it is torn down.

    A ``persistent: false`` bucket that STIX created and that no other cluster
    uses is deleted with it; buckets STIX did not create are never deleted.
    Failures are warned about on stderr and the record is kept for
    ``stix storage delete``.

    :returns: names of the buckets deleted.
    """
    table = StorageTable()
    deleted = []
    for record in table.drop_cluster(cluster):
        if record.persistent or record.clusters:
            continue
        if record.managed:
            try:
                _delete_bucket(record)
            except StixError as exc:
                print(
                    f"warning: storage {record.name}: not deleted with cluster {cluster}: "
                    f"{exc.message}; retry with: stix storage delete {record.name}",
                    file=sys.stderr,
                )
                continue
            deleted.append(record.name)
        table.remove(record.name)
    return deleted


def _delete_bucket(record: StorageRecord) -> None:
    store = stores.store_named(record.store, f"storage {record.name}")
    try:
        store.delete(record.name)
    except StixError:
        raise
    except Exception as exc:
        from stix.storage.mounts import clean

        raise StixError(f"{record.store}: delete bucket {record.name}: {clean(str(exc))}") from exc


@attrs.frozen
class Untracked:
    """A bucket a store says STIX created that this machine's table does not hold."""

    name: str
    store: str
    created: str = ""
    region: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "status": "UNTRACKED", "managed": True}


def listing(*, untracked: bool = False) -> tuple[list[StorageRecord], list[Untracked]]:
    """Recorded storage, plus (with ``untracked``) STIX-created buckets only the stores know.

    Stores offer that listing through an optional ``buckets()`` method returning objects
    with ``name`` (and optionally ``created``, ``region``).
    """
    records = StorageTable().all()
    extra: list[Untracked] = []
    if untracked:
        from stix.plugins import get_registry

        known = {r.name for r in records}
        for name, obj in sorted(get_registry().stores().items()):
            store = obj() if isinstance(obj, type) else obj
            lister = getattr(store, "buckets", None)
            if lister is None:
                continue
            try:
                found = lister()
            except StixError as exc:
                print(f"warning: {name}: cannot list buckets: {exc.message}", file=sys.stderr)
                continue
            for item in found:
                if item.name not in known:
                    extra.append(
                        Untracked(
                            item.name,
                            name,
                            str(getattr(item, "created", "") or ""),
                            getattr(item, "region", None),
                        )
                    )
    return records, extra


def in_use(record: StorageRecord) -> list[str]:
    """Clusters that still exist and mount ``record``."""
    from stix.state.clusters import ClusterStore

    live = {r.name for r in ClusterStore().all()}
    return [c for c in record.clusters if c in live]


def delete(name: str) -> str:
    """Delete storage ``name`` (a recorded name or a bucket URL).

    A bucket STIX created is emptied and removed; for a bucket STIX did not
    create, only the record goes.

    :returns: what was done, for one line of output.
    :raises StixError: unknown name, in use by a cluster, or the store failed.
    """
    table = StorageTable()
    record = table.get(name)
    if record is None and stores.is_bucket_url(name):
        bucket, _ = stores.split_url(name)
        record = table.get(bucket)
        if record is None:
            return _delete_untracked(name, bucket)
    if record is None:
        raise StixError(f"storage {name!r} does not exist", hint="see: stix storage ls")
    users = in_use(record)
    if users:
        raise StixError(
            f"storage {record.name!r} is used by cluster(s) {', '.join(users)}",
            hint=f"stix down {' '.join(users)}",
        )
    if record.managed:
        _delete_bucket(record)
        table.remove(record.name)
        return f"Deleted storage {record.name} ({record.store})."
    table.remove(record.name)
    return f"Forgot storage {record.name}; the bucket was not created by STIX and is kept."


def _delete_untracked(url: str, bucket: str) -> str:
    store = stores.store_for_url(url, "storage delete")
    is_managed = getattr(store, "is_managed", None)
    if is_managed is None or not is_managed(bucket):
        raise StixError(
            f"storage delete: bucket {bucket!r} was not created by STIX; "
            "delete it with the cloud's own tools"
        )
    try:
        store.delete(bucket)
    except StixError:
        raise
    except Exception as exc:
        from stix.storage.mounts import clean

        raise StixError(f"{store.name}: delete bucket {bucket}: {clean(str(exc))}") from exc
    return f"Deleted storage {bucket} ({store.name})."


__all__ = ["Untracked", "delete", "in_use", "listing", "release_cluster"]
