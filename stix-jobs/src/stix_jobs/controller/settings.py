"""The controller's knobs, read from the controller node's STIX config (``jobs:`` section)."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class Settings:
    """Timings and limits of one controller; every value has a default fit for real clouds.

    :param poll_seconds: how often a running job's cluster is asked about it.
    :param backoff_seconds: first wait after a launch found no capacity (doubles each time).
    :param silent_checks: failed looks in a row at an UP cluster before it counts as lost.
    :param idle_seconds: the controller exits when it has had nothing to do this long.
    :param pool_jobs_per_worker: managed jobs one pool worker runs at a time.
    :param log_sync_seconds: how often a running attempt's log is copied to the controller.
    """

    poll_seconds: float = 15.0
    tick_seconds: float = 5.0
    backoff_seconds: float = 60.0
    max_backoff_seconds: float = 1800.0
    max_launches: int = 8
    threads: int = 8
    silent_checks: int = 3
    idle_seconds: float = 600.0
    autodown_minutes: float = 10.0
    pool_jobs_per_worker: int = 1
    log_sync_seconds: float = 30.0

    @classmethod
    def from_config(cls, config: Any) -> Settings:
        """Settings from ``jobs.*`` keys of a :class:`stix.config.Config`."""
        fields = {
            "poll_seconds": "jobs.poll_seconds",
            "tick_seconds": "jobs.tick_seconds",
            "backoff_seconds": "jobs.launch_backoff_seconds",
            "max_backoff_seconds": "jobs.max_launch_backoff_seconds",
            "max_launches": "jobs.max_concurrent_launches",
            "threads": "jobs.controller.threads",
            "silent_checks": "jobs.silent_checks",
            "autodown_minutes": "jobs.autodown_minutes",
            "pool_jobs_per_worker": "jobs.pool_jobs_per_worker",
            "log_sync_seconds": "jobs.log_sync_seconds",
        }
        values: dict[str, Any] = {}
        for name, key in fields.items():
            value = config.get(key)
            if value is not None:
                kind = type(getattr(cls(), name))
                values[name] = kind(value)
        idle = config.get("jobs.controller.idle_minutes")
        if idle is not None:
            values["idle_seconds"] = float(idle) * 60
        return cls(**values)
