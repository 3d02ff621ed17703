"""The task ``config:`` block: the whitelisted config overrides plus ``hooks``.

Merging the block over the layered config is done by ``stix.config``; this module only
validates and normalises it.
"""

from __future__ import annotations

from typing import Any

from stix.task.problems import Invalid, check_keys, require_mapping, type_name

# section -> keys allowed under it; None = the section itself is a leaf value.
ALLOWED: dict[str, tuple[str, ...] | None] = {
    "docker": ("run_options",),
    "nvidia_gpus": ("disable_ecc",),
    "ssh": ("custom_metadata", "pod_config", "provision_timeout"),
    "kubernetes": (
        "custom_metadata",
        "pod_config",
        "provision_timeout",
        "dws",
        "kueue",
        "quota",
        "remote_identity",
        "enable_docker",
        "set_pod_resource_limits",
    ),
    "azure": ("remote_identity", "vpc_name"),
    "gcp": (
        "vpc_name",
        "subnet_names",
        "managed_instance_group",
        "enable_gvnic",
        "enable_gpu_direct",
        "placement_policy",
    ),
    "vast": ("datacenter_only", "create_instance_kwargs"),
    "slurm": ("sbatch_options", "quota", "cpu_partition"),
    "active_workspace": None,
    "hooks": None,
}
HOOK_EVENTS = ("stop", "preemption", "down")
MAX_HOOKS = 32
MAX_HOOK_BYTES = 16 * 1024
DEFAULT_HOOK_TIMEOUT = 3600


def parse_config(raw: Any) -> dict[str, Any] | None:
    """Validate the ``config:`` block; ``hooks`` entries get their defaults filled in."""
    if raw is None:
        return None
    data = dict(require_mapping(raw, (), "a mapping of config overrides"))
    check_keys(data, ALLOWED)
    for section, keys in ALLOWED.items():
        if keys is None or data.get(section) is None:
            continue
        sub = require_mapping(data[section], (section,))
        check_keys(sub, keys, (section,))
    workspace = data.get("active_workspace")
    if workspace is not None and not isinstance(workspace, str):
        raise Invalid(
            f"must be a workspace name, got {type_name(workspace)}", ("active_workspace",)
        )
    if "hooks" in data:
        data["hooks"] = parse_hooks(data["hooks"])
    return data


def parse_hooks(raw: Any) -> list[dict[str, Any]]:
    """``hooks``: list of ``{run, events, timeout}`` -> entries with defaults filled."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise Invalid(f"must be a list of hooks, got {type_name(raw)}", ("hooks",))
    if len(raw) > MAX_HOOKS:
        raise Invalid(f"at most {MAX_HOOKS} hooks are allowed, got {len(raw)}", ("hooks",))
    out = []
    for index, item in enumerate(raw):
        where = ("hooks", index)
        hook = require_mapping(item, where)
        check_keys(hook, ("run", "events", "timeout"), where)
        run = hook.get("run")
        if not isinstance(run, str) or not run.strip():
            raise Invalid("each hook needs a 'run' script", (*where, "run"))
        if len(run.encode()) > MAX_HOOK_BYTES:
            raise Invalid("hook script is longer than 16 KiB", (*where, "run"))
        events = hook.get("events")
        if events is None:
            events = list(HOOK_EVENTS)
        if isinstance(events, str):
            events = [events]
        if not isinstance(events, list) or not events:
            raise Invalid("events must be a list of stop/preemption/down", (*where, "events"))
        for event in events:
            if event not in HOOK_EVENTS:
                raise Invalid(
                    f"invalid event {event!r}; use one of: {', '.join(HOOK_EVENTS)}",
                    (*where, "events"),
                )
        timeout = hook.get("timeout", DEFAULT_HOOK_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
            raise Invalid(
                f"timeout must be an integer >= 1 (seconds), got {timeout!r}", (*where, "timeout")
            )
        out.append({"run": run, "events": list(events), "timeout": timeout})
    return out
