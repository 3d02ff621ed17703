"""``ClusterHandle``: what the client keeps to reach a cluster again (stored in the state DB)."""

from __future__ import annotations

from typing import Any

import attrs

from stix.runner.base import Runner, runner_from_spec

AGENT_DIR = "~/.stix_agent"


@attrs.frozen
class ClusterHandle:
    """Where a cluster's nodes are and how to run commands on them (head first)."""

    cluster_name: str
    cluster_name_on_cloud: str
    cloud: str
    region: str | None
    zone: str | None
    ips: tuple[str, ...] = ()
    instance_ids: tuple[str, ...] = ()
    runners: tuple[dict[str, Any], ...] = ()
    agent_path: str | None = None
    python: str = "python3"

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClusterHandle:
        names = {f.name for f in attrs.fields(cls)}
        clean = {k: v for k, v in data.items() if k in names}
        for key in ("ips", "instance_ids", "runners"):
            clean[key] = tuple(clean.get(key) or ())
        return cls(**clean)

    def node_runners(self) -> list[Runner]:
        """A runner per node, head first."""
        return [runner_from_spec(spec) for spec in self.runners]

    def head_runner(self) -> Runner:
        return runner_from_spec(self.runners[0])
