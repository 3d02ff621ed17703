"""``Storage``: a bucket or volume mounted into a task via ``file_mounts``.

Only the declarative spec lives here; creating buckets and mounting them is the
job of store plugins.
"""

from __future__ import annotations

from typing import Any

from attrs import frozen

from stix.task.problems import Invalid, check_keys, require_mapping, type_name

STORES = (
    "s3",
    "gcs",
    "azure",
    "r2",
    "ibm",
    "oci",
    "nebius",
    "coreweave",
    "vastdata",
    "hf",
    "volume",
)
MODES = ("MOUNT", "COPY", "MOUNT_CACHED")
CACHE_TYPES = ("MODEL_CHECKPOINT_RO", "MODEL_CHECKPOINT_RW", "DATASET_RO", "DATASET_RW")
STORAGE_KEYS = ("name", "source", "store", "mode", "persistent", "type", "config")
STORAGE_INTERNAL = ("_is_sky_managed", "_bucket_sub_path", "_force_delete")
CLOUD_URL_PREFIXES = (
    "s3://",
    "gs://",
    "r2://",
    "cos://",
    "oci://",
    "nebius://",
    "cw://",
    "vastdata://",
    "hf://",
    "https://",
)
_CONFIG_KEYS = {
    "mount_cached": (
        "transfers",
        "buffer_size",
        "vfs_cache_max_size",
        "vfs_cache_max_age",
        "vfs_read_ahead",
        "vfs_read_chunk_size",
        "vfs_read_chunk_streams",
        "vfs_write_back",
        "read_only",
    ),
    "mount": ("read_only", "hf_mount_args"),
    "disk_size": None,
    "disk_tier": None,
    "storage_type": None,
    "attach_mode": None,
}


@frozen(kw_only=True)
class Storage:
    """A storage object of ``file_mounts``: bucket ``name``/``source``, ``store`` and ``mode``."""

    name: str | None = None
    source: str | tuple[str, ...] | None = None
    store: str | None = None
    mode: str = "MOUNT"
    persistent: bool = True
    type: str | None = None
    config: dict[str, Any] | None = None
    internal: dict[str, Any] | None = None

    def __hash__(self) -> int:
        return hash((self.name, self.source, self.store, self.mode, self.persistent, self.type))

    @classmethod
    def from_yaml_config(cls, config: dict[str, Any]) -> Storage:
        """Parse one storage mapping."""
        from stix.task.convert import structure_at

        return structure_at(config, cls, ())

    def to_yaml_config(self) -> dict[str, Any]:
        """Canonical mapping, defaults omitted."""
        out: dict[str, Any] = {}
        if self.name is not None:
            out["name"] = self.name
        if self.source is not None:
            out["source"] = list(self.source) if isinstance(self.source, tuple) else self.source
        if self.store is not None:
            out["store"] = self.store
        if self.mode != "MOUNT":
            out["mode"] = self.mode
        if not self.persistent:
            out["persistent"] = False
        if self.type is not None:
            out["type"] = self.type
        if self.config is not None:
            out["config"] = self.config
        out.update(self.internal or {})
        return out

    @property
    def is_volume(self) -> bool:
        """True for the ``store: volume`` form (a disk rather than a bucket)."""
        return self.store == "volume"


def prepare_storage(raw: Any) -> dict[str, Any]:
    """Validate a raw storage mapping and normalise its value forms."""
    data = dict(require_mapping(raw, (), "a path, URL or storage mapping"))
    internal = {k: data.pop(k) for k in list(data) if k in STORAGE_INTERNAL}
    check_keys(data, STORAGE_KEYS + STORAGE_INTERNAL)
    for key in ("name", "type"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise Invalid(f"must be a string, got {type_name(data[key])}", (key,))
    source = data.get("source")
    if isinstance(source, list):
        if not source or not all(isinstance(s, str) for s in source):
            raise Invalid("source list must hold local paths", ("source",))
        data["source"] = tuple(source)
    elif source is not None and not isinstance(source, str):
        raise Invalid(
            f"source must be a path, URL or list of paths, got {type_name(source)}", ("source",)
        )
    store = data.get("store")
    if store is not None:
        if not isinstance(store, str) or store.strip().lower() not in STORES:
            raise Invalid(f"invalid store {store!r}; use one of: {', '.join(STORES)}", ("store",))
        data["store"] = store.strip().lower()
    mode = data.get("mode")
    if mode is None:
        data.pop("mode", None)
    elif not isinstance(mode, str) or mode.strip().upper() not in MODES:
        raise Invalid(f"invalid mode {mode!r}; use one of: {', '.join(MODES)}", ("mode",))
    else:
        data["mode"] = mode.strip().upper()
    if data.get("persistent") is None:
        data.pop("persistent", None)
    elif not isinstance(data["persistent"], bool):
        raise Invalid("persistent must be true or false", ("persistent",))
    kind = data.get("type")
    if kind is not None and kind.upper() not in CACHE_TYPES:
        raise Invalid(f"invalid type {kind!r}; use one of: {', '.join(CACHE_TYPES)}", ("type",))
    if kind is not None:
        data["type"] = kind.upper()
    config = data.get("config")
    if config is not None:
        _check_config(config)
    if internal:
        data["internal"] = internal
    return data


def _check_config(config: Any) -> None:
    data = require_mapping(config, ("config",))
    check_keys(data, _CONFIG_KEYS, ("config",))
    for key, sub_keys in _CONFIG_KEYS.items():
        if sub_keys is not None and data.get(key) is not None:
            sub = require_mapping(data[key], ("config", key))
            check_keys(sub, sub_keys, ("config", key))


def check_mount_path(dst: Any) -> str:
    """Validate a ``file_mounts`` destination path."""
    if not isinstance(dst, str) or not dst.strip():
        raise Invalid(f"mount path must be a non-empty string, got {type_name(dst)}")
    if dst != "/" and dst.endswith("/"):
        raise Invalid(f"mount path {dst!r} must not end with '/'")
    if dst.startswith(CLOUD_URL_PREFIXES):
        raise Invalid(f"mount path {dst!r} must be a path on the node, not a URL")
    return dst


def parse_file_mount(dst: str, value: Any) -> str | Storage:
    """One ``file_mounts`` entry value: a source string or a ``Storage``."""
    if isinstance(value, str):
        if not value.strip():
            raise Invalid("source must not be empty")
        return value
    if value is None:
        raise Invalid(f"file mount {dst!r} has no source; give a path, URL or storage mapping")
    return Storage.from_yaml_config(value)
