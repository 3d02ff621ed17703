"""How many replicas a service wants: request-rate autoscaling with hysteresis, and the
split between spot and on-demand replicas when spot capacity may fall away.

Pure logic, fed the load balancer's request times; the replica manager acts on it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

import attrs


@attrs.define
class RequestRate:
    """Request times seen by the load balancer over a sliding window."""

    window_seconds: float = 60.0
    times: deque[float] = attrs.field(factory=deque)

    def add(self, when: float) -> None:
        self.times.append(when)

    def qps(self, now: float) -> float:
        cutoff = now - self.window_seconds
        while self.times and self.times[0] < cutoff:
            self.times.popleft()
        return len(self.times) / self.window_seconds


@attrs.define
class Autoscaler:
    """Target replica count from QPS, moving only after a run of agreeing decisions.

    ``decide`` is called every ``interval_seconds``. An upscale happens after
    ``upscale_delay_seconds / interval`` consecutive decisions that want more replicas,
    a downscale after ``downscale_delay_seconds / interval`` that want fewer; from zero
    replicas it scales up at once. Without ``target_qps_per_replica`` the count is fixed
    at ``min_replicas``.
    """

    min_replicas: int = 1
    max_replicas: int | None = None
    target_qps_per_replica: float | None = None
    upscale_delay_seconds: float = 300.0
    downscale_delay_seconds: float = 1200.0
    num_overprovision: int = 0
    interval_seconds: float = 20.0
    current: int = attrs.field(default=-1)
    _ups: int = 0
    _downs: int = 0

    def __attrs_post_init__(self) -> None:
        if self.current < 0:
            self.current = self.min_replicas

    def proposal(self, qps: float) -> int:
        """What the rate alone asks for, within [min, max]."""
        if not self.target_qps_per_replica:
            return self.min_replicas
        wanted = math.ceil(qps / self.target_qps_per_replica) if qps > 0 else 0
        high = self.max_replicas if self.max_replicas is not None else self.min_replicas
        return max(self.min_replicas, min(high, wanted))

    def decide(self, qps: float) -> int:
        """Take one decision; return the base target (without overprovision)."""
        wanted = self.proposal(qps)
        up_after = max(1, math.ceil(self.upscale_delay_seconds / self.interval_seconds))
        down_after = max(1, math.ceil(self.downscale_delay_seconds / self.interval_seconds))
        if wanted > self.current:
            self._downs = 0
            self._ups += 1
            if self.current == 0 or self._ups >= up_after:
                self.current, self._ups = wanted, 0
        elif wanted < self.current:
            self._ups = 0
            self._downs += 1
            if self._downs >= down_after:
                self.current, self._downs = wanted, 0
        else:
            self._ups = self._downs = 0
        return self.current

    @property
    def target(self) -> int:
        """Replicas to run: the base target plus overprovision."""
        return self.current + self.num_overprovision


@attrs.frozen
class Split:
    """How many replicas to run on spot and on on-demand capacity."""

    spot: int
    ondemand: int


def split_spot(
    target: int,
    *,
    use_spot: bool,
    base_ondemand: int = 0,
    dynamic_fallback: bool = False,
    ready_spot: int = 0,
) -> Split:
    """Spot replicas are ``target - base``; on-demand are ``base``, plus (with dynamic
    fallback) one for every spot replica that is not ready yet; never more than ``target``.
    """
    if not use_spot:
        return Split(0, target)
    base = min(base_ondemand, target)
    spot = target - base
    ondemand = base
    if dynamic_fallback:
        ondemand += max(0, spot - ready_spot)
    return Split(spot, min(ondemand, target))


def pick_for_removal(
    candidates: Iterable[tuple[tuple[int, int, int], int]], count: int
) -> list[int]:
    """The ``count`` replica ids with the smallest removal key (see ``states.scale_down_key``)."""
    ordered = sorted(candidates)
    return [rid for _, rid in ordered[: max(0, count)]]
