"""``stix launch --dryrun`` over every compat YAML naming a cloud or accelerator of the
shared catalog: a plan, or one exact error line (never a crash)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_real_catalog import SHARED, shared_home

COMPAT = Path(__file__).resolve().parents[2] / ".." / "shared" / "compat" / "skypilot"

__all__ = ["shared_home"]


def _catalog_names() -> tuple[set[str], set[str]]:
    clouds, accs = set(), set()
    if not SHARED.is_dir():
        return clouds, accs
    for folder in SHARED.iterdir():
        vms = folder / "vms.csv"
        if vms.is_file():
            clouds.add(folder.name)
            with vms.open(newline="") as handle:
                accs.update(
                    r["AcceleratorName"].lower()
                    for r in csv.DictReader(handle)
                    if r["AcceleratorName"]
                )
    return clouds, accs


def _mentions(resources: Any, clouds: set[str], accs: set[str]) -> bool:
    if isinstance(resources, list):
        return any(_mentions(r, clouds, accs) for r in resources)
    if not isinstance(resources, dict):
        return False
    for key in ("cloud", "infra"):
        value = resources.get(key)
        if isinstance(value, str) and value.split("/")[0].lower() in clouds:
            return True
    for key in ("accelerators", "gpus"):
        value = resources.get(key)
        items = (
            value
            if isinstance(value, (list, set))
            else list(value)
            if isinstance(value, dict)
            else [value]
        )
        for item in items:
            if isinstance(item, str) and item.split(":")[0].strip().lower() in accs:
                return True
    return any(_mentions(resources.get(k), clouds, accs) for k in ("any_of", "ordered"))


def _selected() -> list[str]:
    if not COMPAT.is_dir():
        return []
    clouds, accs = _catalog_names()
    out = []
    for path in sorted(COMPAT.rglob("*.y*ml")):
        try:
            docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
        except yaml.YAMLError:
            continue
        if any(_mentions(d.get("resources"), clouds, accs) for d in docs):
            out.append(path.relative_to(COMPAT).as_posix())
    return out


FILES = _selected()


def _env_flags(path: Path) -> list[str]:
    flags = []
    for doc in yaml.safe_load_all(path.read_text()):
        if isinstance(doc, dict):
            for key, value in (doc.get("envs") or {}).items():
                if value is None:
                    flags += ["--env", f"{key}=dummy"]
            secrets = doc.get("secrets")
            if isinstance(secrets, dict):
                for key, value in secrets.items():
                    if value is None:
                        flags += ["--secret", f"{key}=dummy"]
    return flags


@pytest.mark.skipif(not FILES, reason="compat corpus or shared catalog absent")
@pytest.mark.parametrize("name", FILES)
def test_dryrun_plans_or_explains(
    name: str, cli: Any, shared_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STIX_HOME", str(shared_home))
    path = COMPAT / name
    result = cli("launch", "--dryrun", "--json", "-y", *_env_flags(path), str(path))
    if result.exit_code == 0:
        plan = json.loads(result.stdout)
        assert plan["tasks"], result.stdout
        for task in plan["tasks"]:
            assert task["cloud"] and task["hourly_cost"] >= 0
    else:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert lines and lines[0].startswith("Error: "), result.stderr
        assert "unexpected" not in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
