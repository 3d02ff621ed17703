"""Layered config: user file, project file, task block, --config flags."""

from __future__ import annotations

from pathlib import Path

import pytest
from stix import config as config_module
from stix.config import deep_merge, load_config, parse_override, project_config_path
from stix.errors import ConfigError


def test_stix_home_follows_env(stix_home: Path) -> None:
    assert config_module.stix_home() == stix_home


def test_layers_in_order(stix_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (stix_home / "config.yaml").write_text(
        "aws:\n  labels: {team: a, env: prod}\nallowed_clouds: [aws]\n"
    )
    project = tmp_path / "proj"
    project.mkdir()
    (project / ".stix.yaml").write_text("aws:\n  labels: {team: b}\n")
    monkeypatch.delenv("STIX_PROJECT_CONFIG")
    monkeypatch.chdir(project / ".")
    config = load_config(
        ["allowed_clouds=[gcp, local]"], task_config={"aws": {"labels": {"x": "1"}}}
    )
    assert config.get("aws.labels") == {"team": "b", "env": "prod", "x": "1"}
    assert config.get("allowed_clouds") == ["gcp", "local"]
    assert config.get("no.such.key", 7) == 7
    assert len(config.sources) == 4


def test_project_file_found_in_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STIX_PROJECT_CONFIG", raising=False)
    (tmp_path / ".stix.yaml").write_text("{}")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert project_config_path(deep) == (tmp_path / ".stix.yaml").resolve()


def test_bad_yaml_names_file_and_line(stix_home: Path) -> None:
    (stix_home / "config.yaml").write_text("aws:\n  labels: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_config()
    assert str(stix_home / "config.yaml") in info.value.message
    assert "invalid YAML" in info.value.message


def test_non_mapping_config(stix_home: Path) -> None:
    (stix_home / "config.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config()


def test_override_parsing() -> None:
    assert parse_override("a.b=3") == {"a": {"b": 3}}
    assert parse_override("x=hello") == {"x": "hello"}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("novalue")


def test_deep_merge_does_not_mutate() -> None:
    base = {"a": {"b": 1}}
    merged = deep_merge(base, {"a": {"c": 2}})
    assert merged == {"a": {"b": 1, "c": 2}} and base == {"a": {"b": 1}}
