"""Turn one task mapping (a YAML document) into a ``Task``.

Applies ``--env``/``--secret`` overrides, ``$VAR`` substitution and the cross-field rules;
raises ``Invalid`` with a field path (the loader adds file and line).
"""

from __future__ import annotations

import os
import re
from typing import Any

from stix.task.candidates import parse_task_resources
from stix.task.model import Task
from stix.task.problems import Invalid, check_keys, require_mapping, type_name
from stix.task.service import PoolSpec, ServiceSpec
from stix.task.storage import Storage, check_mount_path, parse_file_mount
from stix.task.taskconfig import parse_config
from stix.task.values import brief

TASK_KEYS = (
    "name",
    "workdir",
    "num_nodes",
    "resources",
    "envs",
    "secrets",
    "managed_secrets",
    "file_mounts",
    "volumes",
    "setup",
    "run",
    "service",
    "pool",
    "config",
    "event_callback",
    "inputs",
    "outputs",
    "api_server_access",
    "volume_mounts",
    "file_mounts_mapping",
    "_metadata",
)
MAX_NAME_LENGTH = 256
MAX_NUM_NODES = 10_000  # a cloud may allow fewer (Cloud.unsupported); local: local.max_nodes
NAME_RE = re.compile(r"[a-zA-Z0-9]+(?:[._-]{1,2}[a-zA-Z0-9]+)*")
ENV_KEY_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
SECRET_KEY_RE = re.compile(r"(?:(?:personal|workspace|global)\.)?[a-zA-Z_][a-zA-Z0-9_]*")
_VAR_RE = re.compile(r"\$\{([a-zA-Z_][a-zA-Z0-9_]*)\}|\$([a-zA-Z_][a-zA-Z0-9_]*)")
SECRET_PREFIX = "secrets:"


def parse_task(
    raw: Any,
    env_overrides: dict[str, str | None] | None = None,
    secret_overrides: dict[str, str | None] | None = None,
) -> Task:
    """Validate and normalise one task mapping."""
    data = require_mapping(raw, (), "a YAML mapping of task fields")
    check_keys(data, TASK_KEYS)
    envs = parse_envs(data.get("envs"), _resolve(env_overrides, "--env"))
    secrets = parse_secrets(data.get("secrets"), _resolve(secret_overrides, "--secret"))
    known = {**envs, **{k: v for k, v in secrets.items() if v is not None}}

    def sub(value: Any) -> Any:
        return substitute(value, known)

    resources, ordered = _at(("resources",), parse_task_resources, data.get("resources"))
    task = Task(
        name=_at(("name",), parse_name, data.get("name")),
        workdir=_at(("workdir",), parse_workdir, sub(data.get("workdir"))),
        num_nodes=_at(("num_nodes",), parse_num_nodes, data.get("num_nodes")),
        resources=resources,
        resources_ordered=ordered,
        envs=envs,
        secrets=secrets,
        managed_secrets=_at(
            ("managed_secrets",), parse_managed_secrets, data.get("managed_secrets")
        ),
        file_mounts=parse_file_mounts(data.get("file_mounts"), sub),
        volumes=parse_volumes(data.get("volumes"), sub),
        setup=_at(("setup",), parse_script, data.get("setup")),
        run=_at(("run",), parse_script, data.get("run")),
        service=_structure(sub(data.get("service")), ServiceSpec, "service"),
        pool=_structure(data.get("pool"), PoolSpec, "pool"),
        config=_at(("config",), parse_config, data.get("config")),
        event_callback=_at(("event_callback",), _optional_str, data.get("event_callback")),
        inputs=_at(("inputs",), parse_io, data.get("inputs")),
        outputs=_at(("outputs",), parse_io, data.get("outputs")),
        api_server_access=_at(
            ("api_server_access",), _optional_bool, data.get("api_server_access")
        ),
        metadata=_at(("_metadata",), _optional_mapping, data.get("_metadata")),
        file_mounts_mapping=_at(
            ("file_mounts_mapping",), _optional_mapping, data.get("file_mounts_mapping")
        ),
        volume_mounts=data.get("volume_mounts"),
    )
    check_service_rules(task)
    if task.workdir is not None and task.file_mounts and "~/sky_workdir" in task.file_mounts:
        raise Invalid(
            "'~/sky_workdir' is where workdir is synced; mount elsewhere",
            ("file_mounts", "~/sky_workdir"),
        )
    return task


def _at(path: tuple[Any, ...], fn: Any, value: Any) -> Any:
    try:
        return fn(value)
    except Invalid as exc:
        raise exc.under(path) from None


def _structure(value: Any, cls: type, key: str) -> Any:
    if value is None:
        return None
    from stix.task.convert import structure_at

    return structure_at(value, cls, (key,))


def _resolve(overrides: dict[str, str | None] | None, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (overrides or {}).items():
        if value is None:
            if key not in os.environ:
                raise Invalid(
                    f"{flag} {key} was given without a value and {key} is not set locally"
                )
            value = os.environ[key]
        out[str(key)] = str(value)
    return out


def _scalar_text(value: Any, what: str) -> str:
    if isinstance(value, (dict, list)):
        raise Invalid(f"{what} must be a string, got {type_name(value)}")
    if isinstance(value, bool):
        return "true" if value else "false"
    try:
        text = value if isinstance(value, str) else str(value)
    except ValueError:  # an integer too long to print
        raise Invalid(f"{what} is a number too long to use as text") from None
    if "\x00" in text:
        raise Invalid(f"{what} must not contain a NUL byte")
    return text


def parse_envs(raw: Any, overrides: dict[str, str]) -> dict[str, str]:
    """``envs``: names checked, values coerced to str, overrides applied, nulls refused."""
    data = {} if raw is None else require_mapping(raw, ("envs",), "a mapping of NAME: value")
    out: dict[str, str | None] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not ENV_KEY_RE.fullmatch(key):
            raise Invalid(f"invalid env name {brief(key)}", ("envs", key))
        try:
            out[key] = None if value is None else _scalar_text(value, "env value")
        except Invalid as exc:
            raise exc.under(("envs", key)) from None
    for key, value in overrides.items():
        if not ENV_KEY_RE.fullmatch(key):
            raise Invalid(f"invalid env name {brief(key)} in --env", ("envs",))
        if "\x00" in value:
            raise Invalid(f"--env {key}: the value must not contain a NUL byte", ("envs", key))
        out[key] = value
    for key, value in out.items():
        if value is None:
            raise Invalid(
                f"env {key!r} has no value; pass --env {key}=VALUE",
                ("envs", key),
                hint=f"pass it with --env {key}=VALUE",
            )
    return out  # type: ignore[return-value]


def parse_secrets(raw: Any, overrides: dict[str, str]) -> dict[str, str | None]:
    """``secrets``: inline values, or null / ``secrets:NAME`` references; overrides fill them."""
    out: dict[str, str | None] = {}
    if isinstance(raw, list):
        for index, item in enumerate(raw):
            if not isinstance(item, str) or not item.startswith(SECRET_PREFIX):
                raise Invalid("list items must be 'secrets:NAME' references", ("secrets", index))
            out[_secret_name(item[len(SECRET_PREFIX) :], ("secrets", index))] = None
    elif raw is not None:
        data = require_mapping(raw, ("secrets",), "a mapping of NAME: value or a list")
        for key, value in data.items():
            where = ("secrets", key)
            if isinstance(key, str) and key.startswith(SECRET_PREFIX):
                if value is not None:
                    raise Invalid("a 'secrets:' reference must not have a value", where)
                out[_secret_name(key[len(SECRET_PREFIX) :], where)] = None
                continue
            name = _secret_name(key, where)
            try:
                out[name] = None if value is None else _scalar_text(value, "secret value")
            except Invalid as exc:
                raise exc.under(where) from None
    for key, value in overrides.items():
        name = _secret_name(key, ("secrets",))
        if "\x00" in value:
            raise Invalid(f"--secret {name}: the value must not contain a NUL byte", ("secrets",))
        out[name] = value
    return out


def _secret_name(name: Any, where: tuple[Any, ...]) -> str:
    if not isinstance(name, str) or not SECRET_KEY_RE.fullmatch(name):
        raise Invalid(f"invalid secret name {brief(name)}", where)
    return name


def parse_managed_secrets(raw: Any) -> dict[str, str | None] | None:
    """List of names, or ``{NAME: {mount_path: ...}}`` -> name -> mount path (or None)."""
    if raw is None:
        return None
    if isinstance(raw, list):
        out: dict[str, str | None] = {}
        for index, item in enumerate(raw):
            if not isinstance(item, str):
                raise Invalid(f"must be a secret name, got {type_name(item)}", (index,))
            out[item] = None
        return out
    data = require_mapping(raw, (), "a list of names or a mapping")
    out = {}
    for name, spec in data.items():
        if spec is None or spec == {}:
            out[str(name)] = None
            continue
        spec = require_mapping(spec, (name,))
        check_keys(spec, ("mount_path",), (name,))
        path = spec.get("mount_path")
        if path is not None and not isinstance(path, str):
            raise Invalid("must be a path", (name, "mount_path"))
        out[str(name)] = path
    return out


def substitute(value: Any, known: dict[str, str]) -> Any:
    """Replace ``$VAR``/``${VAR}`` with ``known`` values in strings, keys included."""
    if not known:
        return value
    if isinstance(value, str):
        if "$" not in value:
            return value

        def repl(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            return known.get(name, match.group(0))

        return _VAR_RE.sub(repl, value)
    if isinstance(value, dict):
        return {substitute(k, known): substitute(v, known) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, known) for v in value]
    return value


def parse_name(raw: Any) -> str | None:
    """Task name: alphanumerics joined by at most two of ``._-``."""
    if raw is None:
        return None
    if isinstance(raw, str) and len(raw) > MAX_NAME_LENGTH:
        raise Invalid(f"name is {len(raw)} characters long; at most {MAX_NAME_LENGTH} are allowed")
    if not isinstance(raw, str) or not NAME_RE.fullmatch(raw):
        raise Invalid(
            f"invalid name {brief(raw)}; use letters and digits joined by '.', '_' or '-'"
        )
    return raw


def parse_workdir(raw: Any) -> str | dict[str, str] | None:
    """A local directory, or a git repository ``{url, ref}``."""
    if raw is None:
        return None
    if isinstance(raw, str):
        if not raw.strip():
            raise Invalid("workdir must not be empty")
        return raw
    data = require_mapping(raw, (), "a directory or a mapping {url, ref}")
    check_keys(data, ("url", "ref"))
    if not isinstance(data.get("url"), str) or not data["url"]:
        raise Invalid("git workdir needs a 'url'", ("url",))
    if data.get("ref") is not None and not isinstance(data["ref"], str):
        raise Invalid("ref must be a branch, tag or commit", ("ref",))
    return {k: v for k, v in data.items() if v is not None}


def parse_num_nodes(raw: Any) -> int:
    """``num_nodes``: integer >= 1 (default 1)."""
    if raw is None:
        return 1
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise Invalid(f"num_nodes must be an integer >= 1, got {brief(raw)}")
    if raw > MAX_NUM_NODES:
        raise Invalid(f"must be at most {MAX_NUM_NODES} nodes, got {brief(raw)}")
    return raw


def parse_script(raw: Any) -> str | None:
    """``setup``/``run``: a string, or a list of strings joined by newlines."""
    if raw is None or isinstance(raw, str):
        return raw
    if isinstance(raw, list) and all(isinstance(line, str) for line in raw):
        return "\n".join(raw)
    raise Invalid(f"must be a shell script string, got {type_name(raw)}")


def parse_file_mounts(raw: Any, sub: Any) -> dict[str, str | Storage] | None:
    """``file_mounts``: destination -> source string or storage mapping (substituted)."""
    if raw is None:
        return None
    data = require_mapping(raw, ("file_mounts",), "a mapping of destination to source")
    out: dict[str, str | Storage] = {}
    for raw_dst, raw_src in data.items():
        where = ("file_mounts", raw_dst)
        dst = _at(where, check_mount_path, sub(raw_dst))
        out[dst] = _at(where, lambda v, d=dst: parse_file_mount(d, v), sub(raw_src))
    return out


def parse_volumes(raw: Any, sub: Any) -> dict[str, Any] | None:
    """``volumes``: absolute mount path -> volume name or ephemeral volume mapping."""
    if raw is None:
        return None
    data = require_mapping(raw, ("volumes",), "a mapping of mount path to volume")
    out: dict[str, Any] = {}
    for raw_path, raw_value in data.items():
        where = ("volumes", raw_path)
        path, value = sub(raw_path), sub(raw_value)
        if not isinstance(path, str) or not path.startswith("/"):
            raise Invalid(f"volume mount path {path!r} must be absolute", where)
        if isinstance(value, str) and value:
            out[path] = value
        elif isinstance(value, dict):
            out[path] = dict(value)
        else:
            raise Invalid(f"must be a volume name or mapping, got {type_name(value)}", where)
    return out


def parse_io(raw: Any) -> dict[str, float] | None:
    """``inputs``/``outputs``: exactly one ``{path_or_url: size_GB}``."""
    if raw is None:
        return None
    data = require_mapping(raw, (), "a mapping {path: size_in_GB}")
    if len(data) != 1:
        raise Invalid("must have exactly one entry {path: size_in_GB}")
    ((key, size),) = data.items()
    if isinstance(size, bool) or not isinstance(size, (int, float)) or size < 0:
        raise Invalid(f"size must be a number of GB >= 0, got {size!r}", (key,))
    return {str(key): float(size)}


def _optional_str(raw: Any) -> str | None:
    if raw is not None and not isinstance(raw, str):
        raise Invalid(f"must be a string, got {type_name(raw)}")
    return raw


def _optional_bool(raw: Any) -> bool | None:
    if raw is not None and not isinstance(raw, bool):
        raise Invalid(f"must be true or false, got {type_name(raw)}")
    return raw


def _optional_mapping(raw: Any) -> dict[str, Any] | None:
    return None if raw is None else dict(require_mapping(raw))


def check_service_rules(task: Task) -> None:
    """Rules tying ``service``/``pool`` to the resources."""
    if task.service is not None and task.pool is not None:
        raise Invalid("a task cannot have both 'service' and 'pool'", ("pool",))
    if task.service is None:
        return
    # Candidates may mix spot and on-demand (SkyPilot loads such services); which one a
    # replica gets is the serving layer's policy, not a load-time rule.
    spots = {bool(r.use_spot) for r in task.resources}
    for r in task.resources:
        if r.job_recovery is not None:
            raise Invalid("job_recovery is not allowed for services", ("resources", "job_recovery"))
    policy = task.service.replica_policy
    needs_spot = (
        policy.base_ondemand_fallback_replicas is not None
        or policy.dynamic_ondemand_fallback is not None
        or policy.spot_placer is not None
    )
    if needs_spot and True not in spots:
        raise Invalid(
            "on-demand fallback and spot_placer need 'use_spot: true' in resources",
            ("service", "replica_policy"),
        )
