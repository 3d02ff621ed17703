"""The one cattrs converter of ``stix.task``: structuring hooks, dumping, error paths.

Polymorphic YAML forms are parsed by per-field hooks; cattrs validation errors are
mapped to ``Invalid`` problems carrying the YAML field path.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cattrs.errors import (
    AttributeValidationNote,
    BaseValidationError,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.pyyaml import make_converter

from stix.task import resources as res
from stix.task import service as svc
from stix.task import storage as sto
from stix.task import values
from stix.task.problems import Invalid, Path, type_name, unknown_key

converter = make_converter(forbid_extra_keys=True)


def _strict(kind: type, label: str) -> Any:
    def hook(value: Any, _: Any) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise Invalid(f"must be {label}, got {type_name(value)}")
        if kind is float and isinstance(value, int):
            return float(value)
        if not isinstance(value, kind):
            raise Invalid(f"must be {label}, got {type_name(value)}")
        return value

    return hook


converter.register_structure_hook(str, _strict(str, "a string"))
converter.register_structure_hook(int, _strict(int, "an integer"))
converter.register_structure_hook(float, _strict(float, "a number"))
converter.register_structure_hook(bool, _strict(bool, "true or false"))


def _passthrough(value: Any, _: Any = None) -> Any:
    return value


def _wrap(hook: Any) -> Any:
    return override(struct_hook=lambda value, _type: hook(value))


# -- Resources -------------------------------------------------------------------
_resources_fn = make_dict_structure_fn(
    res.Resources,
    converter,
    _cattrs_forbid_extra_keys=True,
    cpus=_wrap(values.parse_cpus),
    memory=_wrap(values.parse_memory),
    accelerators=_wrap(res.single_accelerator),
    accelerator_args=_wrap(res.accelerator_args_hook),
    job_recovery=_wrap(res.job_recovery_hook),
    disk_size=_wrap(values.parse_disk_size),
    disk_tier=_wrap(res.enum_hook("disk_tier", res.DISK_TIERS)),
    network_tier=_wrap(res.enum_hook("network_tier", res.NETWORK_TIERS)),
    local_disk=_wrap(values.parse_local_disk),
    max_hourly_cost=_wrap(res.max_cost_hook),
    ports=_wrap(values.parse_ports),
    image_id=_wrap(res.image_id_hook),
    labels=_wrap(res.labels_hook),
    autostop=_wrap(res.autostop_hook),
    priority=_wrap(res.priority_hook),
    volumes=_wrap(res.volumes_hook),
    internal=_wrap(_passthrough),
)
converter.register_structure_hook(
    res.Resources, lambda value, cls: _resources_fn(res.prepare(value), cls)
)

# -- Storage ---------------------------------------------------------------------
_storage_fn = make_dict_structure_fn(
    sto.Storage,
    converter,
    _cattrs_forbid_extra_keys=True,
    source=_wrap(_passthrough),
    config=_wrap(_passthrough),
    internal=_wrap(_passthrough),
)
converter.register_structure_hook(
    sto.Storage, lambda value, cls: _storage_fn(sto.prepare_storage(value), cls)
)

# -- Service and pool ------------------------------------------------------------
_probe_fn = make_dict_structure_fn(
    svc.ReadinessProbe,
    converter,
    _cattrs_forbid_extra_keys=True,
    post_data=_wrap(_passthrough),
    headers=_wrap(_passthrough),
)
converter.register_structure_hook(
    svc.ReadinessProbe, lambda value, cls: _probe_fn(svc.prepare_probe(value), cls)
)
_policy_fn = make_dict_structure_fn(
    svc.ReplicaPolicy,
    converter,
    _cattrs_forbid_extra_keys=True,
    target_qps_per_replica=_wrap(_passthrough),
)
converter.register_structure_hook(
    svc.ReplicaPolicy, lambda value, cls: _policy_fn(svc.prepare_policy(value), cls)
)
_service_fn = make_dict_structure_fn(
    svc.ServiceSpec,
    converter,
    _cattrs_forbid_extra_keys=True,
    load_balancer=_wrap(_passthrough),
)
converter.register_structure_hook(
    svc.ServiceSpec, lambda value, cls: _service_fn(svc.prepare_service(value), cls)
)
_pool_fn = make_dict_structure_fn(svc.PoolSpec, converter, _cattrs_forbid_extra_keys=True)
converter.register_structure_hook(
    svc.PoolSpec, lambda value, cls: _pool_fn(svc.prepare_pool(value), cls)
)

for _cls in (svc.ReadinessProbe, svc.ReplicaPolicy, svc.ServiceSpec, svc.PoolSpec, svc.TlsSpec):
    converter.register_unstructure_hook(
        _cls, make_dict_unstructure_fn(_cls, converter, _cattrs_omit_if_default=True)
    )

# YAML keys a user may write for each class, for "did you mean" suggestions.
_YAML_KEYS: dict[type, tuple[str, ...]] = {
    res.Resources: res.RESOURCE_KEYS,
    sto.Storage: sto.STORAGE_KEYS,
    svc.ServiceSpec: svc.SERVICE_KEYS,
    svc.ReadinessProbe: svc.PROBE_KEYS,
    svc.ReplicaPolicy: svc.POLICY_KEYS,
    svc.PoolSpec: svc.POOL_KEYS,
    svc.TlsSpec: ("keyfile", "certfile"),
}


def structure_at(value: Any, cls: type, path: Path) -> Any:
    """Structure ``value`` as ``cls``; problems are raised as ``Invalid`` under ``path``.

    When several fields are wrong the first problem is raised and the rest are kept on
    its ``others`` attribute (the loader reports the one earliest in the file).
    """
    try:
        return converter.structure(value, cls)
    except (ClassValidationError, IterableValidationError, ForbiddenExtraKeysError, Invalid) as exc:
        problems = list(_problems(exc, tuple(path)))
    if not problems:  # pragma: no cover - cattrs always names a cause
        raise Invalid("invalid value", tuple(path))
    first = problems[0]
    first.others = problems[1:]
    raise first


def _problems(exc: BaseException, path: Path) -> Iterator[Invalid]:
    if isinstance(exc, Invalid):
        yield exc.under(path)
    elif isinstance(exc, ForbiddenExtraKeysError):
        valid = _YAML_KEYS.get(exc.cl, ())
        for key in sorted(exc.extra_fields):
            yield unknown_key(key, valid, path)
    elif isinstance(exc, BaseValidationError):
        for sub in exc.exceptions:
            sub_path = path
            for note in getattr(sub, "__notes__", ()):
                if isinstance(note, AttributeValidationNote):
                    sub_path = (*path, note.name)
                elif isinstance(note, IterableValidationNote):
                    sub_path = (*path, note.index)
            yield from _problems(sub, sub_path)
    elif isinstance(exc, (KeyError, TypeError)) and path:
        yield Invalid(f"missing or invalid value ({exc})", path)
    else:
        yield Invalid(f"invalid value: {exc}", path)


def unstructure_resources(r: res.Resources) -> dict[str, Any]:
    """Canonical YAML mapping of one ``Resources``."""
    out: dict[str, Any] = {}
    if r.infra is not None:
        out["infra"] = r.infra
    for key in ("instance_type", "cpus", "memory"):
        value = getattr(r, key)
        if value is not None:
            out[key] = value
    if r.accelerators:
        name, count = next(iter(r.accelerators.items()))
        out["accelerators"] = f"{name}:{values.fmt_number(count)}"
    simple = (
        "accelerator_args",
        "use_spot",
        "job_recovery",
        "disk_size",
        "disk_tier",
        "network_tier",
        "local_disk",
        "max_hourly_cost",
    )
    for key in simple:
        value = getattr(r, key)
        if value is not None:
            out[key] = value
    if r.ports is not None:
        out["ports"] = [int(p) if p.isdigit() else p for p in r.ports]
    for key in ("image_id", "labels"):
        value = getattr(r, key)
        if value is not None:
            out[key] = value
    if r.autostop is not None:
        stop = r.autostop
        auto: dict[str, Any] = {"idle_minutes": stop.idle_minutes, "down": stop.down}
        for key in ("wait_for", "hook", "hook_timeout"):
            if getattr(stop, key) is not None:
                auto[key] = getattr(stop, key)
        out["autostop"] = auto
    for key in ("priority", "priority_class"):
        value = getattr(r, key)
        if value is not None:
            out[key] = value
    if r.volumes is not None:
        out["volumes"] = [dict(v) for v in r.volumes]
    out.update(r.internal or {})
    return out
