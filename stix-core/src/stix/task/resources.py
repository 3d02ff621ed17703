"""``Resources``: one candidate placement of a task (cloud, instance, cpus, gpus, ...).

Raw YAML forms are normalised by the structuring hooks in ``stix.task.convert``;
the task-level set of candidates (``any_of``/``ordered``) lives in ``candidates.py``.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
from attrs import field, frozen

from stix.task import values
from stix.task.problems import Invalid, check_keys, require_mapping, type_name

# Keys of a single resources mapping, in dump order (``infra`` stands for cloud/region/zone).
RESOURCE_KEYS = (
    "infra",
    "cloud",
    "region",
    "zone",
    "instance_type",
    "cpus",
    "memory",
    "accelerators",
    "gpus",
    "accelerator_args",
    "use_spot",
    "job_recovery",
    "spot_recovery",
    "disk_size",
    "disk_tier",
    "network_tier",
    "local_disk",
    "max_hourly_cost",
    "ports",
    "image_id",
    "labels",
    "autostop",
    "priority",
    "priority_class",
    "volumes",
)
INTERNAL_KEYS = (
    "_docker_login_config",
    "_is_image_managed",
    "_requires_fuse",
    "_cluster_config_overrides",
    "_no_missing_accel_warnings",
)
DISK_TIERS = ("low", "medium", "high", "ultra", "best", "none")
NETWORK_TIERS = ("standard", "best")
WAIT_FOR = ("jobs_and_ssh", "jobs", "none")
DEFAULT_AUTOSTOP_MINUTES = 5


@frozen(kw_only=True)
class Autostop:
    """Autostop request: stop (or tear down, ``down``) after ``idle_minutes`` idle."""

    idle_minutes: int = DEFAULT_AUTOSTOP_MINUTES
    down: bool = False
    wait_for: str | None = None
    hook: str | None = None
    hook_timeout: int | None = None


def _hash_key(obj: Any) -> str:
    return json.dumps(obj.to_yaml_config(), sort_keys=True, default=str)


@frozen(kw_only=True)
class Resources:
    """One candidate: at most one accelerator type, canonical value forms.

    ``cpus``/``memory`` are strings (``"4"``, ``"4+"``, memory in GiB or ``"4x"``);
    ``accelerators`` is ``{name: count}`` with one key, or None.
    """

    cloud: str | None = None
    region: str | None = None
    zone: str | None = None
    instance_type: str | None = None
    cpus: str | None = None
    memory: str | None = None
    accelerators: dict[str, int | float] | None = None
    accelerator_args: dict[str, Any] | None = None
    use_spot: bool | None = None
    job_recovery: dict[str, Any] | None = None
    disk_size: int | None = None
    disk_tier: str | None = None
    network_tier: str | None = None
    local_disk: str | None = None
    max_hourly_cost: float | None = None
    ports: tuple[str, ...] | None = None
    image_id: str | dict[str, str] | None = None
    labels: dict[str, str] | None = None
    autostop: Autostop | None = None
    priority: int | None = None
    priority_class: str | None = None
    volumes: tuple[dict[str, Any], ...] | None = None
    internal: dict[str, Any] | None = field(default=None, repr=False)

    def __hash__(self) -> int:
        return hash(_hash_key(self))

    # -- construction / dumping -------------------------------------------------
    @classmethod
    def from_yaml_config(cls, config: dict[str, Any] | None) -> Resources:
        """Parse one resources mapping (no ``any_of``/``ordered``, one accelerator)."""
        from stix.task.convert import structure_at

        return structure_at(config or {}, cls, ())

    def to_yaml_config(self) -> dict[str, Any]:
        """Canonical mapping with YAML key names; unset fields omitted."""
        from stix.task.convert import unstructure_resources

        return unstructure_resources(self)

    def copy(self, **changes: Any) -> Resources:
        """A copy with some fields replaced (values must already be canonical)."""
        return attrs.evolve(self, **changes)

    # -- derived views the optimizer uses --------------------------------------
    @property
    def infra(self) -> str | None:
        """``cloud/region/zone`` with ``*`` for unpinned parts, or None."""
        return values.format_infra(self.cloud, self.region, self.zone)

    def cpus_request(self) -> tuple[float, bool] | None:
        """(vCPUs, at_least) or None when unset."""
        if self.cpus is None:
            return None
        plus = self.cpus.endswith("+")
        return float(self.cpus.rstrip("+")), plus

    def memory_request(self) -> tuple[float, bool] | None:
        """(GiB, at_least), or None when unset or given per vCPU (``"4x"``)."""
        if self.memory is None or self.memory.endswith("x"):
            return None
        plus = self.memory.endswith("+")
        return float(self.memory.rstrip("+")), plus

    def memory_per_cpu(self) -> float | None:
        """GiB per vCPU for the ``"Nx"`` memory form, else None."""
        if self.memory is None or not self.memory.endswith("x"):
            return None
        return float(self.memory[:-1])

    def accelerator(self) -> tuple[str, float] | None:
        """(name, count) of the single accelerator, or None."""
        if not self.accelerators:
            return None
        name, count = next(iter(self.accelerators.items()))
        return name, float(count)

    def ports_list(self) -> list[int]:
        """Every port to open, expanded from the normalised ranges."""
        return values.ports_to_list(self.ports)

    def docker_image(self, region: str | None = None) -> str | None:
        """The image of ``image_id: docker:<image>``, or None for a VM image or no image.

        Container clouds' provisioners (RunPod, Vast, Kubernetes) run their nodes from
        it; on VM clouds the core starts a container from it on every node. A mapping
        ``{region: image}`` gives the entry for ``region``, else its only entry; the
        reserved key ``docker`` names the image whatever the region.

        :param region: the region being provisioned.
        """
        image = self.image_id
        if isinstance(image, dict) and image.get("docker"):  # reserved key beside VM images
            image = "docker:" + str(image["docker"]).removeprefix("docker:")
        elif isinstance(image, dict):
            image = image.get(region or "") or (
                next(iter(image.values())) if len(image) == 1 else None
            )
        if isinstance(image, str) and image.startswith("docker:"):
            return image[len("docker:") :].strip() or None
        return None

    @property
    def is_launchable(self) -> bool:
        """True when cloud and instance type are both known."""
        return self.cloud is not None and self.instance_type is not None


# -- structuring helpers (registered by stix.task.convert) ---------------------


def prepare(raw: Any) -> dict[str, Any]:
    """Resolve aliases and legacy keys of a raw resources mapping into field names."""
    data = dict(require_mapping(raw, (), "a mapping of resource fields"))
    internal = {k: data.pop(k) for k in list(data) if k in INTERNAL_KEYS}
    if "ephemeral_storage" in data:
        data.pop("ephemeral_storage")  # legacy, ignored as SkyPilot does
    for key in data:
        if key in ("any_of", "ordered"):
            raise Invalid("any_of/ordered are only allowed in a task's resources", (key,))
    check_keys(data, RESOURCE_KEYS + INTERNAL_KEYS)
    if "gpus" in data:
        if "accelerators" in data:
            raise Invalid("use either 'gpus' or 'accelerators', not both", ("gpus",))
        data["accelerators"] = data.pop("gpus")
    if "spot_recovery" in data:
        if "job_recovery" in data:
            raise Invalid(
                "use 'job_recovery' only (spot_recovery is its old name)", ("spot_recovery",)
            )
        data["job_recovery"] = data.pop("spot_recovery")
    infra_given = "infra" in data
    if infra_given:
        for legacy in ("cloud", "region", "zone"):
            if data.get(legacy) is not None:
                raise Invalid(f"'infra' cannot be combined with '{legacy}'", (legacy,))
            data.pop(legacy, None)
        infra = data.pop("infra")
        if infra is not None:
            try:
                data["cloud"], data["region"], data["zone"] = values.parse_infra(infra)
            except Invalid as exc:
                raise exc.under(("infra",)) from None
    elif "cloud" in data:
        try:
            data["cloud"] = values.normalise_cloud(data["cloud"])
        except Invalid as exc:
            raise exc.under(("cloud",)) from None
    if data.get("region") is not None or data.get("zone") is not None:
        from stix.task.clouds import check_place

        try:
            check_place(data.get("cloud"), data.get("region"), data.get("zone"))
        except Invalid as exc:
            if infra_given:
                raise Invalid(exc.message, ("infra",), exc.hint) from None
            raise
    if internal:
        data["internal"] = internal
    if data.get("priority") is not None and data.get("priority_class") is not None:
        raise Invalid("set either 'priority' or 'priority_class', not both", ("priority_class",))
    return data


def single_accelerator(value: Any, _: Any = None) -> dict[str, int | float] | None:
    """Hook for ``accelerators`` of one candidate: at most one accelerator type."""
    candidates, _form = values.parse_accelerators(value)
    if len(candidates) > 1:
        raise Invalid("several accelerators given where one candidate is expected")
    only = candidates[0]
    return None if only is None else {only[0]: only[1]}


def enum_hook(field_name: str, allowed: tuple[str, ...]) -> Any:
    """Hook for a case-insensitive enum string."""

    def hook(value: Any, _: Any = None) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or value.strip().lower() not in allowed:
            raise Invalid(f"invalid {field_name} {value!r}; use one of: {', '.join(allowed)}")
        return value.strip().lower()

    return hook


def job_recovery_hook(value: Any, _: Any = None) -> dict[str, Any] | None:
    """Hook for ``job_recovery``: strategy string or mapping -> normalised mapping."""
    if value is None:
        return None
    if isinstance(value, str):
        return {"strategy": value.strip().upper()}
    data = require_mapping(value, (), "a strategy name or a mapping")
    check_keys(data, ("strategy", "max_restarts_on_errors", "recover_on_exit_codes"))
    out: dict[str, Any] = {}
    strategy = data.get("strategy")
    if strategy is not None:
        if not isinstance(strategy, str):
            raise Invalid(f"strategy must be a string, got {type_name(strategy)}", ("strategy",))
        out["strategy"] = strategy.strip().upper()
    elif "strategy" in data:
        out["strategy"] = None
    restarts = data.get("max_restarts_on_errors")
    if restarts is not None:
        if isinstance(restarts, bool) or not isinstance(restarts, int) or restarts < 0:
            raise Invalid("must be an integer >= 0", ("max_restarts_on_errors",))
        out["max_restarts_on_errors"] = restarts
    codes = data.get("recover_on_exit_codes")
    if codes is not None:
        items = codes if isinstance(codes, list) else [codes]
        for code in items:
            if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 255:
                raise Invalid(
                    f"exit code {code!r} must be an integer 0-255", ("recover_on_exit_codes",)
                )
        out["recover_on_exit_codes"] = list(items)
    return out


def autostop_hook(value: Any, _: Any = None) -> Autostop | None:
    """Hook for ``autostop``: bool, minutes, ``"2h"`` or a mapping -> ``Autostop`` or None."""
    if value is None or value is False:
        return None
    if value is True:
        return Autostop()
    if isinstance(value, (int, str)):
        return Autostop(idle_minutes=values.parse_duration_minutes(value, "autostop"))
    data = require_mapping(value, (), "a boolean, minutes, a duration or a mapping")
    check_keys(data, ("idle_minutes", "down", "wait_for", "hook", "hook_timeout"))
    idle = data.get("idle_minutes")
    minutes = DEFAULT_AUTOSTOP_MINUTES if idle is None else None
    if idle is not None:
        try:
            minutes = values.parse_duration_minutes(idle, "idle_minutes")
        except Invalid as exc:
            raise exc.under(("idle_minutes",)) from None
    down = data.get("down", False)
    if not isinstance(down, bool):
        raise Invalid(f"must be true or false, got {type_name(down)}", ("down",))
    wait_for = data.get("wait_for")
    if wait_for is not None:
        if not isinstance(wait_for, str) or wait_for.lower() not in WAIT_FOR:
            raise Invalid(
                f"invalid wait_for {wait_for!r}; use one of: {', '.join(WAIT_FOR)}", ("wait_for",)
            )
        wait_for = wait_for.lower()
    hook = data.get("hook")
    if hook is not None and not isinstance(hook, str):
        raise Invalid("must be a string", ("hook",))
    timeout = data.get("hook_timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1
    ):
        raise Invalid("must be an integer >= 1", ("hook_timeout",))
    assert minutes is not None
    return Autostop(
        idle_minutes=minutes, down=down, wait_for=wait_for, hook=hook, hook_timeout=timeout
    )


def image_id_hook(value: Any, _: Any = None) -> str | dict[str, str] | None:
    """Hook for ``image_id``: a string, or a mapping region -> image (``docker`` reserved)."""
    if value is None or isinstance(value, str):
        return value
    data = require_mapping(value, (), "a string or a mapping of region to image")
    if not data:
        raise Invalid("image_id mapping must not be empty")
    for key, image in data.items():
        if not isinstance(image, str):
            raise Invalid(f"image must be a string, got {type_name(image)}", (key,))
    return {str(k): v for k, v in data.items()}


def labels_hook(value: Any, _: Any = None) -> dict[str, str] | None:
    """Hook for ``labels``: mapping of str to scalar, values coerced to str."""
    if value is None:
        return None
    data = require_mapping(value, (), "a mapping of label to value")
    out: dict[str, str] = {}
    for key, item in data.items():
        if isinstance(item, (dict, list)) or item is None:
            raise Invalid(f"label value must be a string, got {type_name(item)}", (key,))
        out[str(key)] = item if isinstance(item, str) else _scalar_text(item)
    return out


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def accelerator_args_hook(value: Any, _: Any = None) -> dict[str, Any] | None:
    """Hook for ``accelerator_args`` (TPU knobs)."""
    if value is None:
        return None
    data = require_mapping(value)
    check_keys(data, ("runtime_version", "tpu_name", "tpu_vm", "gcp_queued_resource"))
    for key in ("runtime_version", "tpu_name"):
        if key in data and data[key] is not None and not isinstance(data[key], str):
            raise Invalid("must be a string", (key,))
    for key in ("tpu_vm", "gcp_queued_resource"):
        if key in data and data[key] is not None and not isinstance(data[key], bool):
            raise Invalid("must be true or false", (key,))
    return dict(data)


_VOLUME_KEYS = (
    "path",
    "name",
    "disk_size",
    "disk_tier",
    "storage_type",
    "attach_mode",
    "auto_delete",
)


def volumes_hook(value: Any, _: Any = None) -> tuple[dict[str, Any], ...] | None:
    """Hook for ``resources.volumes``: list of disk attachments."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise Invalid(f"must be a list of volume mappings, got {type_name(value)}")
    out = []
    for index, item in enumerate(value):
        data = require_mapping(item, (index,))
        check_keys(data, _VOLUME_KEYS, (index,))
        if "storage_type" in data and data["storage_type"] not in ("network", "instance"):
            raise Invalid("storage_type must be 'network' or 'instance'", (index, "storage_type"))
        if "attach_mode" in data and data["attach_mode"] not in ("read_write", "read_only"):
            raise Invalid("attach_mode must be 'read_write' or 'read_only'", (index, "attach_mode"))
        out.append(dict(data))
    return tuple(out)


def priority_hook(value: Any, _: Any = None) -> int | None:
    """Hook for ``priority``: integer in -1000..1000."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not -1000 <= value <= 1000:
        raise Invalid(f"priority must be an integer from -1000 to 1000, got {value!r}")
    return value


def max_cost_hook(value: Any, _: Any = None) -> float | None:
    """Hook for ``max_hourly_cost``: a number > 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise Invalid(f"max_hourly_cost must be a number > 0, got {value!r}")
    return float(value)
