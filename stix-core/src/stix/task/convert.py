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


def _register(cls: type, prepare: Any, **fields: Any) -> None:
    """Structure ``cls`` from ``prepare(value)``, unknown keys refused, ``fields`` as hooks."""
    fn: Any = make_dict_structure_fn(
        cls,
        converter,
        _cattrs_forbid_extra_keys=True,
        **{name: _wrap(hook) for name, hook in fields.items()},
    )
    converter.register_structure_hook(cls, lambda value, kind: fn(prepare(value), kind))


_register(
    res.Resources,
    res.prepare,
    cpus=values.parse_cpus,
    memory=values.parse_memory,
    accelerators=res.single_accelerator,
    accelerator_args=res.accelerator_args_hook,
    job_recovery=res.job_recovery_hook,
    disk_size=values.parse_disk_size,
    disk_tier=res.enum_hook("disk_tier", res.DISK_TIERS),
    network_tier=res.enum_hook("network_tier", res.NETWORK_TIERS),
    local_disk=values.parse_local_disk,
    max_hourly_cost=res.max_cost_hook,
    ports=values.parse_ports,
    image_id=res.image_id_hook,
    labels=res.labels_hook,
    autostop=res.autostop_hook,
    priority=res.priority_hook,
    volumes=res.volumes_hook,
    internal=_passthrough,
)
_register(
    sto.Storage,
    sto.prepare_storage,
    source=_passthrough,
    config=_passthrough,
    internal=_passthrough,
)
_register(svc.ReadinessProbe, svc.prepare_probe, post_data=_passthrough, headers=_passthrough)
_register(svc.ReplicaPolicy, svc.prepare_policy, target_qps_per_replica=_passthrough)
_register(svc.ServiceSpec, svc.prepare_service, load_balancer=_passthrough)
_register(svc.PoolSpec, svc.prepare_pool)

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
