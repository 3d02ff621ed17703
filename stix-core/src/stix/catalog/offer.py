"""``Offer``: one priced place to run one node (a catalog row, or a live offer).

Contract shared with cloud plugins: clouds without a catalog (``local``,
``ssh``, ``kubernetes``) return ``Offer`` objects from ``Cloud.live_offers``;
catalog-backed clouds get theirs from the core's catalog cache. Fields:

* ``cloud``, ``instance_type`` (``None`` only for a host-less attachable GPU),
  ``region``, ``zone`` (``None`` where the cloud has no zones);
* ``accelerator_name``/``accelerator_count`` (``None``/``0`` without GPUs);
  ``gpu_memory_gib`` is the memory of one device when known;
* ``vcpus``, ``memory_gib``: per node;
* ``price``: on-demand USD per node-hour; ``spot_price``: ``None`` when the
  offer has no spot market;
* ``note``: an optional remark shown beside the offer in plans (for example that
  an autoscaler must add the node first).
"""

from __future__ import annotations

import attrs


@attrs.frozen
class Offer:
    """One priced node type at one location."""

    cloud: str
    instance_type: str | None
    vcpus: float
    memory_gib: float
    price: float
    region: str | None = None
    zone: str | None = None
    accelerator_name: str | None = None
    accelerator_count: float = 0
    gpu_memory_gib: float | None = None
    spot_price: float | None = None
    note: str | None = None

    def hourly(self, use_spot: bool) -> float | None:
        """Price per node-hour for the given market, ``None`` if there is none."""
        return self.spot_price if use_spot else self.price

    @property
    def accelerators(self) -> dict[str, float | int] | None:
        """``{name: count}`` as in a task's ``accelerators:`` field, or ``None``."""
        if not self.accelerator_name or not self.accelerator_count:
            return None
        count = self.accelerator_count
        return {self.accelerator_name: int(count) if float(count).is_integer() else count}


__all__ = ["Offer"]
