"""Settings of a service (from its ``service:`` block) and of the controller (from config).

Controller knobs live under ``serve:`` in the controller's config file, which ``serve up``
writes from the user's own ``serve:`` section:

    serve:
      autoscaler: {decision_interval_seconds: 20, qps_window_seconds: 60}
      replica_check_interval_seconds: 20   # how often a replica's cluster and job are checked
      controller:
        resources: {cloud: local}          # where the controller cluster runs
        autostop: 10                       # idle minutes before the controller stops
        idle_exit_seconds: 60              # controller process exits this long after the last service
"""

from __future__ import annotations

from typing import Any

import attrs

from stix_serve.autoscaler import Autoscaler

# SkyPilot's defaults (SPEC 12.1, 12.3)
DEFAULT_INITIAL_DELAY = 1200
DEFAULT_PROBE_TIMEOUT = 15
DEFAULT_PROBE_INTERVAL = 10
DEFAULT_FAILURE_TIMEOUT = 180
DEFAULT_UPSCALE_DELAY = 300
DEFAULT_DOWNSCALE_DELAY = 1200
DEFAULT_STREAM_TIMEOUT = 120


@attrs.frozen
class Probe:
    """The readiness probe of a service, defaults filled in."""

    path: str = "/"
    post_data: Any = None
    headers: dict[str, str] | None = None
    initial_delay: float = DEFAULT_INITIAL_DELAY
    timeout: float = DEFAULT_PROBE_TIMEOUT
    interval: float = DEFAULT_PROBE_INTERVAL
    failure_timeout: float = DEFAULT_FAILURE_TIMEOUT


@attrs.frozen
class ServiceSettings:
    """Everything the replica manager needs from one version of a service."""

    port: int
    probe: Probe
    min_replicas: int
    max_replicas: int | None
    target_qps: float | None
    upscale_delay: float
    downscale_delay: float
    overprovision: int
    use_spot: bool
    base_ondemand: int
    dynamic_fallback: bool
    lb_policy: str | None
    stream_timeout: float

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> ServiceSettings:
        """From what ``serve up`` recorded: ``{"service": {...}, "port": int, "use_spot": bool}``."""
        service = spec.get("service") or {}
        raw_probe = service.get("readiness_probe") or {}
        if isinstance(raw_probe, str):
            raw_probe = {"path": raw_probe}
        probe = Probe(
            path=raw_probe.get("path", "/"),
            post_data=raw_probe.get("post_data"),
            headers=raw_probe.get("headers"),
            initial_delay=_num(raw_probe, "initial_delay_seconds", DEFAULT_INITIAL_DELAY),
            timeout=_num(raw_probe, "timeout_seconds", DEFAULT_PROBE_TIMEOUT),
            interval=_num(raw_probe, "endpoint_probe_interval_seconds", DEFAULT_PROBE_INTERVAL),
            failure_timeout=_num(
                raw_probe, "consecutive_failure_threshold_timeout", DEFAULT_FAILURE_TIMEOUT
            ),
        )
        policy = service.get("replica_policy") or {}
        qps = policy.get("target_qps_per_replica")
        if isinstance(qps, dict):  # per-GPU capacities: use the smallest as a safe bound
            qps = min(qps.values()) if qps else None
        balancer = service.get("load_balancer") or {}
        return cls(
            port=int(spec["port"]),
            probe=probe,
            min_replicas=int(policy.get("min_replicas", 1)),
            max_replicas=policy.get("max_replicas"),
            target_qps=float(qps) if qps else None,
            upscale_delay=_num(policy, "upscale_delay_seconds", DEFAULT_UPSCALE_DELAY),
            downscale_delay=_num(policy, "downscale_delay_seconds", DEFAULT_DOWNSCALE_DELAY),
            overprovision=int(policy.get("num_overprovision") or 0),
            use_spot=bool(spec.get("use_spot")),
            base_ondemand=int(policy.get("base_ondemand_fallback_replicas") or 0),
            dynamic_fallback=bool(policy.get("dynamic_ondemand_fallback")),
            lb_policy=service.get("load_balancing_policy"),
            stream_timeout=_num(balancer, "stream_timeout_seconds", DEFAULT_STREAM_TIMEOUT),
        )

    def autoscaler(self, interval: float) -> Autoscaler:
        return Autoscaler(
            min_replicas=self.min_replicas,
            max_replicas=self.max_replicas,
            target_qps_per_replica=self.target_qps,
            upscale_delay_seconds=self.upscale_delay,
            downscale_delay_seconds=self.downscale_delay,
            num_overprovision=self.overprovision,
            interval_seconds=interval,
        )


def _num(data: dict[str, Any], key: str, default: float) -> float:
    value = data.get(key)
    return float(default if value is None else value)


@attrs.frozen
class ControllerSettings:
    """Knobs of the controller process (``serve:`` in its config)."""

    decision_interval_seconds: float = 20.0
    qps_window_seconds: float = 60.0
    replica_check_seconds: float = 20.0
    idle_exit_seconds: float = 60.0
    tick_seconds: float = 0.5


def controller_settings() -> ControllerSettings:
    from stix.config import load_config

    config = load_config()
    return ControllerSettings(
        decision_interval_seconds=float(
            config.get("serve.autoscaler.decision_interval_seconds", 20)
        ),
        qps_window_seconds=float(config.get("serve.autoscaler.qps_window_seconds", 60)),
        replica_check_seconds=float(config.get("serve.replica_check_interval_seconds", 20)),
        idle_exit_seconds=float(config.get("serve.controller.idle_exit_seconds", 60)),
    )
