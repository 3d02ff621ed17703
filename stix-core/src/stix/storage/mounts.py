"""Bucket ``file_mounts`` at launch: resolve each to a store, fill buckets, run node commands.

A source string that is a bucket URL is copied onto every node (COPY). A storage
object gets its bucket created (and filled from a local ``source``), is recorded
in the ``storage`` table, then mounted or copied on every node by its ``mode``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from stix.errors import StixError
from stix.storage import stores

if TYPE_CHECKING:
    from stix.backend.handle import ClusterHandle
    from stix.runner.base import Runner
    from stix.task import Task
    from stix.task.storage import Storage

_QUERY = re.compile(r"(https?://[^\s?'\"]+)\?[^\s'\"]*")


@attrs.frozen
class BucketMount:
    """One resolved bucket entry of ``file_mounts``.

    :param dest: the path on the node.
    :param url: what the node reads (``s3://bucket/path``).
    :param mode: ``COPY``, ``MOUNT`` or ``MOUNT_CACHED``.
    :param storage: the storage object, or None for a plain URL source.
    :param bucket: the bucket a storage object names (recorded in the state table).
    """

    dest: str
    url: str
    mode: str
    store: Any = attrs.field(eq=False, repr=False)
    storage: Storage | None = None
    bucket: str | None = None
    local_sources: tuple[str, ...] = ()

    @property
    def field(self) -> str:
        return f"file_mounts.{self.dest}"


def is_local(source: Any) -> bool:
    """True for a ``file_mounts`` value the backend syncs itself (a local path string)."""
    return isinstance(source, str) and not stores.is_bucket_url(source)


def bucket_entries(task: Task) -> dict[str, Any]:
    """The ``file_mounts`` entries that are bucket URLs or storage objects."""
    return {d: s for d, s in (task.file_mounts or {}).items() if not is_local(s)}


def _storage_store(dest: str, storage: Storage, cloud: str | None, *, late: bool) -> Any:
    field = f"file_mounts.{dest}"
    if storage.store:
        if storage.is_volume:
            raise StixError(f"{field}.store: volumes are not supported yet; use a bucket store")
        return stores.store_named(storage.store, f"{field}.store")
    source = storage.source
    if isinstance(source, str) and stores.is_bucket_url(source):
        return stores.store_for_url(source, f"{field}.source")
    found = stores.store_for_cloud(cloud)
    if found is None and late:
        where = f"cloud {cloud!r} has no store" if cloud else "the cluster has no cloud"
        raise StixError(
            f"{field}.store: not given, and {where} to hold bucket {storage.name!r}",
            hint="add store: s3 (or gcs, azure, ...) to the storage object",
        )
    return found


def _local_sources(dest: str, storage: Storage) -> tuple[str, ...]:
    source = storage.source
    if source is None or (isinstance(source, str) and stores.is_bucket_url(source)):
        return ()
    items = (source,) if isinstance(source, str) else tuple(source)
    out = []
    for item in items:
        if stores.is_bucket_url(item):
            raise StixError(f"file_mounts.{dest}.source: a list source holds local paths only")
        path = Path(item).expanduser()
        if not path.exists():
            raise StixError(f"file_mounts.{dest}.source: {item} does not exist")
        out.append(str(path.resolve()))
    return tuple(out)


def _resolve_one(dest: str, source: Any, cloud: str | None, *, late: bool) -> BucketMount | None:
    field = f"file_mounts.{dest}"
    if isinstance(source, str):
        return BucketMount(dest, source, "COPY", stores.store_for_url(source, field))
    storage: Storage = source
    store = _storage_store(dest, storage, cloud, late=late)
    src = storage.source
    if isinstance(src, str) and stores.is_bucket_url(src):
        bucket, _ = stores.split_url(src)
        if storage.name and storage.name != bucket:
            raise StixError(
                f"{field}.name: {storage.name!r} differs from the bucket of source {src}",
                hint="drop name, or drop the bucket URL from source",
            )
        url = src
    else:
        if not storage.name:
            raise StixError(
                f"{field}.name: a storage object "
                + ("with a local source " if src else "")
                + "needs a bucket name"
            )
        bucket, url = storage.name, ""
    local = _local_sources(dest, storage)
    if store is None:
        return None
    if not url:
        url = stores.bucket_url(store, bucket)
    return BucketMount(dest, url, storage.mode, store, storage, bucket, local)


def check(task: Task, cloud: str | None = None) -> None:
    """Validate every bucket entry before provisioning: fields, local sources, store plugins.

    Entries whose store comes from the cluster's cloud are checked again at mount time.

    :raises StixError: one line naming the field (``file_mounts./data.store``...).
    """
    for dest, source in bucket_entries(task).items():
        _resolve_one(dest, source, cloud, late=False)


def resolve(task: Task, cloud: str | None) -> list[BucketMount]:
    """Every bucket entry of ``task`` resolved for a cluster on ``cloud``."""
    out = []
    for dest, source in bucket_entries(task).items():
        found = _resolve_one(dest, source, cloud, late=True)
        assert found is not None
        out.append(found)
    return out


def _fail(field: str, what: str, exc: BaseException) -> StixError:
    if isinstance(exc, StixError):
        return StixError(f"{field}: {exc.message}", hint=exc.hint)
    return StixError(f"{field}: {what}: {clean(str(exc)) or type(exc).__name__}")


def prepare(mount: BucketMount, cluster: str, region: str | None, cloud: str | None) -> None:
    """Create and fill a storage object's bucket and record it (plain URLs need nothing).

    Status goes INIT -> READY, or INIT_FAILED / UPLOAD_FAILED when the store fails.
    """
    from stix.storage.state import INIT_FAILED, READY, UPLOAD_FAILED, StorageTable

    storage, bucket, store = mount.storage, mount.bucket, mount.store
    if storage is None or bucket is None:
        return
    table = StorageTable()
    source = list(storage.source) if isinstance(storage.source, tuple) else storage.source
    from_url = isinstance(storage.source, str) and stores.is_bucket_url(storage.source)
    store_cloud = getattr(store, "cloud", None) or stores.STORE_CLOUDS.get(store.name)
    where = region if store_cloud == cloud else None
    if from_url:
        table.begin(bucket, store.name, source=source, region=None, persistent=True, managed=False)
    else:
        exists = getattr(store, "exists", None)
        try:
            existed = bool(exists(bucket)) if exists is not None else True
            ours = not existed
            if existed and getattr(store, "is_managed", None) is not None:
                ours = bool(store.is_managed(bucket))
        except Exception as exc:
            raise _fail(mount.field, f"bucket {bucket}", exc) from exc
        table.begin(
            bucket,
            store.name,
            source=source,
            region=where,
            persistent=storage.persistent,
            managed=ours,
        )
        try:
            store.create(bucket, where)
        except Exception as exc:
            table.update(bucket, status=INIT_FAILED)
            raise _fail(mount.field, f"create bucket {bucket}", exc) from exc
        for path in mount.local_sources:
            prefix = Path(path).name if len(mount.local_sources) > 1 and Path(path).is_dir() else ""
            try:
                store.upload(Path(path), bucket, prefix)
            except Exception as exc:
                table.update(bucket, status=UPLOAD_FAILED)
                raise _fail(mount.field, f"upload {path}", exc) from exc
    table.update(bucket, status=READY)
    table.add_cluster(bucket, cluster)


def node_path(runner: Runner, dest: str) -> str:
    """``dest`` as the node's shell sees it (local sandboxes keep every path inside)."""
    from stix.runner.local import LocalRunner

    if isinstance(runner, LocalRunner):
        from stix.storage.confine import inside

        return str(inside(runner.home, dest))
    return dest


def clean(text: str) -> str:
    """``text`` without URL query strings (signatures) or registered secrets."""
    from stix.redact import redact

    return redact(_QUERY.sub(r"\1?<redacted>", text)).strip()


def run_on_nodes(mount: BucketMount, runners: list[Runner]) -> None:
    """Run the store's node commands for ``mount`` on every node at once.

    :raises StixError: a node failed; the line names the field, the node and the
        node's own last error line (for example a missing FUSE tool).
    """
    from stix.runner.base import run_parallel

    def one(runner: Runner) -> None:
        dest = node_path(runner, mount.dest)
        try:
            script = mount.store.node_commands(mount.url, dest, mount.mode)
        except Exception as exc:
            raise _fail(mount.field, mount.mode, exc) from exc
        from stix.runner.local import LocalRunner

        if not isinstance(runner, LocalRunner):  # local paths were confined by node_path
            from stix.storage.confine import guarded

            script = guarded(dest, script)
        result = runner.run(["bash", "-s"], input=script)
        if not result.ok:
            lines = [ln for ln in clean(result.stderr).splitlines() if ln.strip()]
            last = lines[-1] if lines else f"exit code {result.returncode}"
            raise StixError(f"{mount.field}: {mount.mode} failed on node {runner.name}: {last}")

    run_parallel(one, runners)


def mount_buckets(handle: ClusterHandle, task: Task) -> None:
    """Resolve, prepare and mount/copy every bucket entry of ``task`` on the cluster's nodes."""
    mounts = resolve(task, handle.cloud)
    if not mounts:
        return
    from stix.backend import progress
    from stix.runner.base import run_parallel

    runners = handle.node_runners()

    def one(mount: BucketMount) -> None:
        prepare(mount, handle.cluster_name, handle.region, handle.cloud)
        run_on_nodes(mount, runners)

    what = ", ".join(f"{m.url} -> {m.dest} ({m.mode})" for m in mounts)
    with progress.step(f"Mounting {what}"):
        run_parallel(one, mounts)  # buckets are independent: all at once


__all__ = [
    "BucketMount",
    "bucket_entries",
    "check",
    "clean",
    "is_local",
    "mount_buckets",
    "node_path",
    "prepare",
    "resolve",
    "run_on_nodes",
]
