"""Layered configuration and the state folder.

Layers, later ones win: the user file (``$STIX_CONFIG``, else
``$STIX_HOME/config.yaml``), the project file (``$STIX_PROJECT_CONFIG``, else
``.stix.yaml`` in the current folder or the nearest parent), then a task's
``config:`` block and ``--config key=value`` flags. All state lives under
``$STIX_HOME`` (default ``~/.stix``).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from stix.errors import ConfigError

PROJECT_FILE = ".stix.yaml"


def stix_home() -> Path:
    """The folder holding all STIX state (``$STIX_HOME``, default ``~/.stix``)."""
    value = os.environ.get("STIX_HOME")
    return Path(value).expanduser() if value else Path.home() / ".stix"


def user_config_path() -> Path:
    """Path of the user config file (it may not exist)."""
    value = os.environ.get("STIX_CONFIG")
    return Path(value).expanduser() if value else stix_home() / "config.yaml"


def project_config_path(start: Path | None = None) -> Path | None:
    """The project config: ``$STIX_PROJECT_CONFIG`` or the nearest ``.stix.yaml`` upwards."""
    value = os.environ.get("STIX_PROJECT_CONFIG")
    if value:
        return Path(value).expanduser()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return candidate
    return None


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``; nested mappings merge, other values replace."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _read_yaml(path: Path) -> dict[str, Any]:
    from stix.inputs import InputRefused, read_text
    from stix.task.yamlio import YamlSyntaxError, read_one

    try:
        text = read_text(path)
    except InputRefused as exc:
        raise ConfigError(f"{path}: config file {exc.reason}") from None
    try:
        data = read_one(text)
    except YamlSyntaxError as exc:
        where = f"{path}:{exc.line}" if exc.line is not None else str(path)
        raise ConfigError(f"{where}: {exc.message}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping, got {type(data).__name__}")
    return data


def parse_override(text: str) -> dict[str, Any]:
    """Turn ``a.b.c=value`` into ``{"a": {"b": {"c": value}}}`` (value parsed as YAML)."""
    from stix.task.yamlio import YamlSyntaxError, read_one

    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--config {text!r}: expected KEY=VALUE or a file path")
    try:
        value = read_one(raw) if raw else None
    except YamlSyntaxError as exc:
        raise ConfigError(f"--config {key.strip()}: {exc.message}") from None
    result: dict[str, Any] = {}
    node = result
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return result


@attrs.frozen
class Config:
    """A merged, read-only view of the config layers."""

    data: dict[str, Any] = attrs.field(factory=dict)
    sources: tuple[str, ...] = ()

    def get(self, key: str, default: Any = None) -> Any:
        """Look up a dotted key such as ``"aws.labels"``; ``default`` when absent."""
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return default
            node = node[part]
        return node

    def merged(self, override: Mapping[str, Any], source: str = "override") -> Config:
        """A new config with ``override`` laid on top."""
        if not override:
            return self
        return Config(deep_merge(self.data, override), (*self.sources, source))


# ``--config`` values of the running command, applied by every ``load_config``.
_cli_overrides: tuple[str, ...] = ()


def use_cli_overrides(items: Iterable[str]) -> None:
    """Lay ``--config`` values over every later ``load_config`` of this process.

    Each value is read and checked now, so a bad one fails before anything runs.

    :raises stix.errors.ConfigError: a value is neither ``KEY=VALUE`` nor a readable file.
    """
    global _cli_overrides
    items = tuple(items)
    for item in items:
        _override_layer(item)
    _cli_overrides = items


def _override_layer(item: str) -> dict[str, Any]:
    if "=" not in item and Path(item).expanduser().exists():
        return _read_yaml(Path(item).expanduser())
    return parse_override(item)


def _finite_number(value: Any, minimum: float) -> bool:
    import math

    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= minimum
    )


# Numeric keys STIX itself reads: dotted key -> (smallest value, what the value must be).
_NUMBERS = {
    "local.preempt_after_seconds": (0.0, "a number of seconds >= 0"),
    "local.max_nodes": (1.0, "an integer >= 1"),
    "catalog.stale_hours": (0.0, "a number of hours >= 0"),
}


def check_layer(data: Mapping[str, Any], source: str) -> None:
    """Check the values STIX reads from one config layer; name the key and the layer.

    :raises stix.errors.ConfigError: a value has the wrong type or range.
    """
    from stix.task.values import brief

    layer = Config(dict(data))
    allowed = layer.get("allowed_clouds")
    if allowed is not None:
        if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
            raise ConfigError(
                f"{source}: allowed_clouds: must be a list of cloud names, got {brief(allowed)}"
            )
        from stix.task.clouds import check_cloud
        from stix.task.problems import Invalid

        for name in allowed:
            try:
                check_cloud(name.strip().lower(), storage=True)
            except Invalid as exc:
                raise ConfigError(f"{source}: allowed_clouds: {exc.message}", exc.hint) from None
    for key, (minimum, what) in _NUMBERS.items():
        value = layer.get(key)
        if value is None:
            continue
        whole = key == "local.max_nodes"
        if not _finite_number(value, minimum) or (whole and not isinstance(value, int)):
            raise ConfigError(f"{source}: {key}: must be {what}, got {brief(value)}")


def load_config(
    overrides: Iterable[str] = (), task_config: Mapping[str, Any] | None = None
) -> Config:
    """Read and merge every layer.

    :param overrides: ``--config`` values: ``key=value`` strings or file paths (after
        those given to :func:`use_cli_overrides`).
    :param task_config: a task's ``config:`` block.
    :raises stix.errors.ConfigError: a file is unreadable or not a mapping, or a value
        STIX reads is out of range.
    """
    layers: list[tuple[dict[str, Any] | Mapping[str, Any], str]] = []
    user = user_config_path()
    if user.exists():  # a FIFO or device there is refused by the reader, not skipped
        layers.append((_read_yaml(user), str(user)))
    project = project_config_path()
    if project is not None and project.exists():
        layers.append((_read_yaml(project), str(project)))
    if task_config:
        layers.append((task_config, "task config"))
    for item in (*_cli_overrides, *overrides):
        layers.append((_override_layer(item), f"--config {item}"))
    config = Config()
    for data, source in layers:
        check_layer(data, source)
        config = config.merged(data, source)
    return config


__all__ = [
    "Config",
    "deep_merge",
    "load_config",
    "parse_override",
    "project_config_path",
    "stix_home",
    "use_cli_overrides",
    "user_config_path",
]
