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
    import yaml

    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping, got {type(data).__name__}")
    return data


def parse_override(text: str) -> dict[str, Any]:
    """Turn ``a.b.c=value`` into ``{"a": {"b": {"c": value}}}`` (value parsed as YAML)."""
    import yaml

    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--config {text!r}: expected KEY=VALUE or a file path")
    value = yaml.safe_load(raw) if raw else None
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


def load_config(
    overrides: Iterable[str] = (), task_config: Mapping[str, Any] | None = None
) -> Config:
    """Read and merge every layer.

    :param overrides: ``--config`` values: ``key=value`` strings or file paths.
    :param task_config: a task's ``config:`` block.
    :raises stix.errors.ConfigError: a file is unreadable or not a mapping.
    """
    config = Config()
    user = user_config_path()
    if user.is_file():
        config = config.merged(_read_yaml(user), str(user))
    project = project_config_path()
    if project is not None and project.is_file():
        config = config.merged(_read_yaml(project), str(project))
    if task_config:
        config = config.merged(task_config, "task config")
    for item in overrides:
        if "=" not in item and Path(item).expanduser().is_file():
            config = config.merged(_read_yaml(Path(item).expanduser()), item)
        else:
            config = config.merged(parse_override(item), f"--config {item}")
    return config


__all__ = [
    "Config",
    "deep_merge",
    "load_config",
    "parse_override",
    "project_config_path",
    "stix_home",
    "user_config_path",
]
