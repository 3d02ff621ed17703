"""The autoscaler's decisions and the spot/on-demand split (pure logic)."""

from __future__ import annotations

from stix_serve import states
from stix_serve.autoscaler import Autoscaler, RequestRate, pick_for_removal, split_spot


def test_fixed_size_without_target_qps() -> None:
    scaler = Autoscaler(min_replicas=2)
    assert [scaler.decide(qps) for qps in (0, 100, 1000)] == [2, 2, 2]


def test_upscale_waits_for_the_delay_and_clips_to_max() -> None:
    scaler = Autoscaler(
        min_replicas=1,
        max_replicas=3,
        target_qps_per_replica=1,
        upscale_delay_seconds=60,
        downscale_delay_seconds=120,
        interval_seconds=20,
    )
    # 60 s / 20 s = 3 agreeing decisions before moving
    assert [scaler.decide(10) for _ in range(3)] == [1, 1, 3]
    # 120 s / 20 s = 6 decisions before scaling down; a high one resets the count
    assert [scaler.decide(0) for _ in range(5)] == [3] * 5
    assert scaler.decide(5) == 3
    assert [scaler.decide(1.5) for _ in range(6)] == [3] * 5 + [2]


def test_from_zero_scales_up_at_once_and_overprovision_adds() -> None:
    scaler = Autoscaler(
        min_replicas=0,
        max_replicas=4,
        target_qps_per_replica=2,
        upscale_delay_seconds=600,
        num_overprovision=1,
    )
    assert scaler.target == 1
    assert scaler.decide(3) == 2
    assert scaler.target == 3


def test_request_rate_window() -> None:
    rate = RequestRate(window_seconds=10)
    for t in range(20):
        rate.add(100 + t)
    assert rate.qps(119.5) == 1.0  # the 10 requests in (109.5, 119.5]
    assert rate.qps(200) == 0.0


def test_spot_split() -> None:
    assert (split_spot(3, use_spot=False).spot, split_spot(3, use_spot=False).ondemand) == (0, 3)
    assert split_spot(3, use_spot=True).spot == 3
    plain = split_spot(3, use_spot=True, base_ondemand=1)
    assert (plain.spot, plain.ondemand) == (2, 1)
    # dynamic: one on-demand stand-in for every spot replica not ready yet, capped at target
    dynamic = split_spot(3, use_spot=True, base_ondemand=1, dynamic_fallback=True, ready_spot=0)
    assert (dynamic.spot, dynamic.ondemand) == (2, 3)
    later = split_spot(3, use_spot=True, base_ondemand=1, dynamic_fallback=True, ready_spot=2)
    assert (later.spot, later.ondemand) == (2, 1)


def test_scale_down_order_prefers_unready_old_and_new_ids() -> None:
    replicas = [
        (states.READY, 1, 1),
        (states.STARTING, 2, 2),
        (states.READY, 2, 3),
        (states.PENDING, 2, 4),
        (states.READY, 1, 5),
    ]
    keyed = [(states.scale_down_key(s, v, rid), rid) for s, v, rid in replicas]
    assert pick_for_removal(keyed, 3) == [4, 2, 5]


def test_service_status_follows_replicas() -> None:
    assert states.service_status([]) == states.NO_REPLICA
    assert states.service_status([states.STARTING]) == states.REPLICA_INIT
    assert states.service_status([states.FAILED, states.READY]) == states.SERVICE_READY
    assert states.service_status([states.FAILED_PROBING]) == states.SERVICE_FAILED
    assert states.service_status([states.PREEMPTED]) == states.NO_REPLICA
