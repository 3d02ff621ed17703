"""Every real SkyPilot YAML of the compat corpus loads, and round-trips to an equal object."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from stix.errors import TaskError
from stix.task import load_dag

COMPAT = Path(__file__).resolve().parents[2] / ".." / "shared" / "compat" / "skypilot"
REJECTED = {"tests/kubernetes/scripts/ray_k8s_sky.yaml"}
FILES = (
    sorted(
        p.relative_to(COMPAT).as_posix() for p in COMPAT.rglob("*") if p.suffix in (".yaml", ".yml")
    )
    if COMPAT.is_dir()
    else []
)

pytestmark = pytest.mark.skipif(not FILES, reason=f"compat corpus not found at {COMPAT}")


def _null_overrides(path: Path) -> tuple[dict[str, str | None], dict[str, str | None]]:
    """Dummy values for every null env/secret, as a user would pass with --env/--secret."""
    envs: dict[str, str | None] = {}
    secrets: dict[str, str | None] = {}
    for doc in yaml.safe_load_all(path.read_text()):
        if not isinstance(doc, dict):
            continue
        for key, value in (doc.get("envs") or {}).items():
            if value is None:
                envs[key] = f"dummy-{key.lower()}"
        raw = doc.get("secrets")
        if isinstance(raw, dict):
            for key, value in raw.items():
                if value is None:
                    secrets[key.removeprefix("secrets:")] = f"dummy-{key.lower()}"
    return envs, secrets


@pytest.mark.parametrize("rel", [f for f in FILES if f not in REJECTED])
def test_compat_yaml_loads_and_round_trips(rel: str) -> None:
    path = COMPAT / rel
    envs, secrets = _null_overrides(path)
    dag = load_dag(path, env_overrides=envs, secret_overrides=secrets)
    assert dag.tasks, rel
    dumped = dag.to_yaml_config(reveal_secrets=True)
    again = load_dag(dumped)
    assert again == dag
    # and through YAML text, as `stix validate --json`/dumps would write it
    from stix.task import dump_yaml

    assert load_dag(dump_yaml(dumped)) == dag


@pytest.mark.parametrize("rel", sorted(REJECTED & set(FILES)))
def test_ray_cluster_config_is_rejected_naming_unknown_keys(rel: str) -> None:
    with pytest.raises(TaskError) as info:
        load_dag(COMPAT / rel)
    message = str(info.value)
    for key in ("cluster_name", "provider", "head_node_type", "available_node_types"):
        assert repr(key) in message
    assert info.value.line == 3
