"""``Task``: one unit of work (setup + run on ``num_nodes`` nodes with some resources).

Parsing from YAML mappings is in ``stix.task.parse``; this module holds the model and
its canonical dump.
"""

from __future__ import annotations

from typing import Any

import attrs
from attrs import Factory, define, field

from stix.task.resources import Resources
from stix.task.service import PoolSpec, ServiceSpec
from stix.task.storage import Storage

REDACTED = "<redacted>"


def _redact_secrets(secrets: dict[str, str | None]) -> str:
    return repr({k: (None if v is None else REDACTED) for k, v in secrets.items()})


@define(kw_only=True, eq=True)
class Task:
    """A task as written in a SkyPilot-compatible YAML, normalised.

    ``resources`` holds one or more candidates; ``resources_ordered`` says whether they
    are a preference list (``ordered:`` or an accelerator list) rather than a set.
    Secret values never appear in ``repr`` or in dumps unless revealed explicitly.
    """

    name: str | None = None
    workdir: str | dict[str, str] | None = None
    num_nodes: int = 1
    resources: tuple[Resources, ...] = (Resources(),)
    resources_ordered: bool = False
    envs: dict[str, str] = Factory(dict)
    secrets: dict[str, str | None] = field(factory=dict, repr=_redact_secrets)
    managed_secrets: dict[str, str | None] | None = None
    file_mounts: dict[str, str | Storage] | None = None
    volumes: dict[str, Any] | None = None
    setup: str | None = None
    run: str | None = None
    service: ServiceSpec | None = None
    pool: PoolSpec | None = None
    config: dict[str, Any] | None = None
    event_callback: str | None = None
    inputs: dict[str, float] | None = None
    outputs: dict[str, float] | None = None
    api_server_access: bool | None = None
    metadata: dict[str, Any] | None = None
    file_mounts_mapping: dict[str, Any] | None = None
    volume_mounts: list[Any] | None = None

    @classmethod
    def from_yaml_config(
        cls,
        config: dict[str, Any],
        *,
        env_overrides: dict[str, str | None] | None = None,
        secret_overrides: dict[str, str | None] | None = None,
    ) -> Task:
        """Build a task from one parsed YAML mapping (raises ``TaskError``)."""
        from stix.task.loader import task_from_mapping

        return task_from_mapping(
            config, env_overrides=env_overrides, secret_overrides=secret_overrides
        )

    def to_yaml_config(self, reveal_secrets: bool = False) -> dict[str, Any]:
        """Canonical YAML mapping; unset/default fields omitted, secrets redacted."""
        from stix.task.candidates import resources_to_yaml

        out: dict[str, Any] = {}
        if self.name is not None:
            out["name"] = self.name
        if self.workdir is not None:
            out["workdir"] = dict(self.workdir) if isinstance(self.workdir, dict) else self.workdir
        if self.num_nodes != 1:
            out["num_nodes"] = self.num_nodes
        resources = resources_to_yaml(self.resources, self.resources_ordered)
        if resources:
            out["resources"] = resources
        if self.envs:
            out["envs"] = dict(self.envs)
        if self.secrets:
            out["secrets"] = {
                k: (v if reveal_secrets or v is None else REDACTED) for k, v in self.secrets.items()
            }
        if self.managed_secrets is not None:
            out["managed_secrets"] = {
                k: ({} if v is None else {"mount_path": v}) for k, v in self.managed_secrets.items()
            }
        if self.file_mounts is not None:
            out["file_mounts"] = {
                dst: (src.to_yaml_config() if isinstance(src, Storage) else src)
                for dst, src in self.file_mounts.items()
            }
        for key in ("volumes", "config"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.service is not None:
            out["service"] = self.service.to_yaml_config()
        if self.pool is not None:
            out["pool"] = self.pool.to_yaml_config()
        for key in ("event_callback", "inputs", "outputs", "api_server_access", "setup", "run"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.metadata is not None:
            out["_metadata"] = self.metadata
        if self.file_mounts_mapping is not None:
            out["file_mounts_mapping"] = self.file_mounts_mapping
        if self.volume_mounts is not None:
            out["volume_mounts"] = self.volume_mounts
        return out

    def copy(self, **changes: Any) -> Task:
        """A copy with some fields replaced."""
        return attrs.evolve(self, **changes)

    @property
    def is_service(self) -> bool:
        """True when the task has a ``service:`` block."""
        return self.service is not None

    def exported_envs(self) -> dict[str, str]:
        """Env vars for setup/run: envs plus resolved inline secrets (secrets win)."""
        merged = dict(self.envs)
        merged.update({k: v for k, v in self.secrets.items() if v is not None})
        return merged
