"""``ServiceSpec`` (the ``service:`` block of SkyServe) and ``PoolSpec`` (``pool:``).

Value forms are normalised here; cross-checks against the task's resources are in
``stix.task.parse``.
"""

from __future__ import annotations

import json
from typing import Any

from attrs import frozen

from stix.task.problems import Invalid, check_keys, require_mapping, type_name

LB_POLICIES = ("round_robin", "least_load", "instance_aware_least_load")
SERVICE_KEYS = (
    "readiness_probe",
    "replicas",
    "replica_policy",
    "ports",
    "load_balancing_policy",
    "load_balancer",
    "tls",
    "pool",
    "workers",
)
PROBE_KEYS = (
    "path",
    "initial_delay_seconds",
    "timeout_seconds",
    "endpoint_probe_interval_seconds",
    "consecutive_failure_threshold_timeout",
    "post_data",
    "headers",
)
POLICY_KEYS = (
    "min_replicas",
    "max_replicas",
    "num_overprovision",
    "target_qps_per_replica",
    "upscale_delay_seconds",
    "downscale_delay_seconds",
    "base_ondemand_fallback_replicas",
    "dynamic_ondemand_fallback",
    "spot_placer",
)
POOL_KEYS = (
    "workers",
    "min_workers",
    "max_workers",
    "queue_length_threshold",
    "upscale_delay_seconds",
    "downscale_delay_seconds",
)


@frozen(kw_only=True)
class ReadinessProbe:
    """How the load balancer checks a replica is ready."""

    path: str = "/"
    initial_delay_seconds: int = 1200
    timeout_seconds: int = 15
    endpoint_probe_interval_seconds: int | None = None
    consecutive_failure_threshold_timeout: int | None = None
    post_data: str | dict[str, Any] | None = None
    headers: dict[str, str] | None = None


@frozen(kw_only=True)
class ReplicaPolicy:
    """How many replicas run and how they scale."""

    min_replicas: int = 1
    max_replicas: int | None = None
    num_overprovision: int | None = None
    target_qps_per_replica: float | dict[str, float] | None = None
    upscale_delay_seconds: int | None = None
    downscale_delay_seconds: int | None = None
    base_ondemand_fallback_replicas: int | None = None
    dynamic_ondemand_fallback: bool | None = None
    spot_placer: str | None = None


@frozen(kw_only=True)
class TlsSpec:
    """Key and certificate files for HTTPS at the load balancer."""

    keyfile: str
    certfile: str


@frozen(kw_only=True)
class ServiceSpec:
    """The ``service:`` block of a SkyServe YAML."""

    readiness_probe: ReadinessProbe = ReadinessProbe()
    replica_policy: ReplicaPolicy = ReplicaPolicy()
    ports: int | None = None
    load_balancing_policy: str | None = None
    load_balancer: dict[str, Any] | None = None
    tls: TlsSpec | None = None
    pool: bool | None = None

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_yaml_config(), sort_keys=True, default=str))

    def to_yaml_config(self) -> dict[str, Any]:
        """Canonical mapping, defaults omitted."""
        from stix.task.convert import converter

        return converter.unstructure(self)


@frozen(kw_only=True)
class PoolSpec:
    """The ``pool:`` block: long-lived workers for managed jobs."""

    workers: int | None = None
    min_workers: int | None = None
    max_workers: int | None = None
    queue_length_threshold: int | None = None
    upscale_delay_seconds: int | None = None
    downscale_delay_seconds: int | None = None

    def to_yaml_config(self) -> dict[str, Any]:
        """Canonical mapping, unset fields omitted."""
        from stix.task.convert import converter

        return converter.unstructure(self)


def _non_negative_int(data: dict[str, Any], key: str, minimum: int = 0) -> None:
    value = data.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise Invalid(f"must be an integer >= {minimum}, got {value!r}", (key,))


def prepare_probe(raw: Any) -> dict[str, Any]:
    """``"/health"`` or a mapping -> ReadinessProbe fields."""
    if isinstance(raw, str):
        raw = {"path": raw}
    data = dict(require_mapping(raw, (), "a path or a mapping"))
    check_keys(data, PROBE_KEYS)
    path = data.get("path")
    if path is None:
        raise Invalid("readiness probe needs a 'path'", ("path",))
    if not isinstance(path, str) or not path.startswith("/"):
        raise Invalid(f"path must start with '/', got {path!r}", ("path",))
    for key in PROBE_KEYS[1:5]:
        _non_negative_int(data, key)
    post = data.get("post_data")
    if isinstance(post, str):
        try:
            data["post_data"] = json.loads(post)
        except ValueError:
            raise Invalid("post_data must be JSON text or a mapping", ("post_data",)) from None
    elif post is not None and not isinstance(post, dict):
        raise Invalid(
            f"post_data must be JSON text or a mapping, got {type_name(post)}", ("post_data",)
        )
    headers = data.get("headers")
    if headers is not None:
        headers = require_mapping(headers, ("headers",))
        data["headers"] = {str(k): str(v) for k, v in headers.items()}
    return {k: v for k, v in data.items() if v is not None}


def prepare_policy(raw: Any) -> dict[str, Any]:
    """Validate a ``replica_policy`` mapping."""
    data = dict(require_mapping(raw))
    check_keys(data, POLICY_KEYS)
    if data.get("min_replicas") is None:
        data.pop("min_replicas", None)
    for key in (
        "min_replicas",
        "max_replicas",
        "num_overprovision",
        "upscale_delay_seconds",
        "downscale_delay_seconds",
        "base_ondemand_fallback_replicas",
    ):
        _non_negative_int(data, key)
    qps = data.get("target_qps_per_replica")
    if isinstance(qps, dict):
        for gpu, value in qps.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise Invalid("QPS must be a number > 0", ("target_qps_per_replica", gpu))
        data["target_qps_per_replica"] = {str(k): float(v) for k, v in qps.items()}
    elif qps is not None:
        if isinstance(qps, bool) or not isinstance(qps, (int, float)) or qps <= 0:
            raise Invalid(f"must be a number > 0, got {qps!r}", ("target_qps_per_replica",))
        data["target_qps_per_replica"] = float(qps)
    if data.get("dynamic_ondemand_fallback") is not None and not isinstance(
        data["dynamic_ondemand_fallback"], bool
    ):
        raise Invalid("must be true or false", ("dynamic_ondemand_fallback",))
    placer = data.get("spot_placer")
    if placer is not None and placer != "dynamic_fallback":
        raise Invalid(f"invalid spot_placer {placer!r}; use 'dynamic_fallback'", ("spot_placer",))
    return {k: v for k, v in data.items() if v is not None}


def prepare_service(raw: Any) -> dict[str, Any]:
    """Validate a ``service:`` mapping and apply the shorthands (``replicas``, ``workers``)."""
    data = dict(require_mapping(raw, (), "a mapping"))
    check_keys(data, SERVICE_KEYS)
    count_key = "replicas" if "replicas" in data else "workers"
    count = data.pop("replicas", None)
    workers = data.pop("workers", None)
    if count is not None and workers is not None:
        raise Invalid("use either 'replicas' or 'workers'", ("workers",))
    count = count if count is not None else workers
    if count is not None:
        if "replica_policy" in data:
            raise Invalid(f"'{count_key}' cannot be combined with 'replica_policy'", (count_key,))
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise Invalid(f"must be an integer >= 0, got {count!r}", (count_key,))
        data["replica_policy"] = {"min_replicas": count}
    if data.get("readiness_probe") is None:
        data.pop("readiness_probe", None)
    if data.get("replica_policy") is None:
        data.pop("replica_policy", None)
    policy = data.get("replica_policy")
    lb = data.get("load_balancing_policy")
    if lb is not None and lb not in LB_POLICIES:
        raise Invalid(
            f"invalid policy {lb!r}; use one of: {', '.join(LB_POLICIES)}",
            ("load_balancing_policy",),
        )
    if policy is not None:
        _check_policy_rules(require_mapping(policy, ("replica_policy",)), lb)
    balancer = data.get("load_balancer")
    if balancer is not None:
        balancer = require_mapping(balancer, ("load_balancer",))
        check_keys(balancer, ("stream_timeout_seconds",), ("load_balancer",))
        _non_negative_int(balancer, "stream_timeout_seconds")
    tls = data.get("tls")
    if tls is not None:
        tls = require_mapping(tls, ("tls",))
        check_keys(tls, ("keyfile", "certfile"), ("tls",))
        for key in ("keyfile", "certfile"):
            if not isinstance(tls.get(key), str):
                raise Invalid(f"tls needs '{key}' (a path)", ("tls", key))
    if data.get("ports") is not None:
        _non_negative_int(data, "ports", 1)
    return {k: v for k, v in data.items() if v is not None}


def _check_policy_rules(policy: dict[str, Any], lb: str | None) -> None:
    low = policy.get("min_replicas", 1)
    high = policy.get("max_replicas")
    qps = policy.get("target_qps_per_replica")
    where = ("replica_policy",)
    if isinstance(low, int) and isinstance(high, int) and not isinstance(high, bool) and high < low:
        raise Invalid("max_replicas must be >= min_replicas", (*where, "max_replicas"))
    if qps is not None and high is None:
        raise Invalid(
            "target_qps_per_replica requires max_replicas", (*where, "target_qps_per_replica")
        )
    if high is not None and high != low and qps is None:
        raise Invalid(
            "autoscaling (max_replicas != min_replicas) needs target_qps_per_replica",
            (*where, "max_replicas"),
        )
    if isinstance(qps, dict) and lb != "instance_aware_least_load":
        raise Invalid(
            "per-GPU target_qps_per_replica needs load_balancing_policy: instance_aware_least_load",
            (*where, "target_qps_per_replica"),
        )


def prepare_pool(raw: Any) -> dict[str, Any]:
    """Validate a ``pool:`` mapping."""
    data = dict(require_mapping(raw, (), "a mapping"))
    check_keys(data, POOL_KEYS)
    for key in POOL_KEYS:
        _non_negative_int(data, key)
    if data.get("workers") is not None and (
        data.get("min_workers") is not None or data.get("max_workers") is not None
    ):
        raise Invalid("use either 'workers' or 'min_workers'/'max_workers'", ("workers",))
    low, high = data.get("min_workers"), data.get("max_workers")
    if low is not None and high is not None and high < low:
        raise Invalid("max_workers must be >= min_workers", ("max_workers",))
    return {k: v for k, v in data.items() if v is not None}
