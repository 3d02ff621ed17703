"""The optimizer's result types: ``Candidate``, ``TaskPlan``, ``Plan`` and ``Blocked``.

These are the stable public shapes other parts (launch, failover, jobs) read.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from stix.task import Resources, Task


@attrs.frozen
class Candidate:
    """One launchable placement of a task: cloud, instance type and location.

    ``hourly_cost`` is per node (spot price when ``use_spot``); ``launchable``
    is False when the cloud's plugin is not installed, and ``hint`` then says
    how to install it; for a launchable one, ``hint`` is the offer's ``note``. ``resources`` is the task's resources with every field
    the optimizer chose filled in. ``choice`` is the index of the task's
    resources candidate this came from.
    """

    cloud: str
    instance_type: str | None
    region: str | None
    zone: str | None
    accelerators: dict[str, int | float] | None
    vcpus: float
    memory_gib: float
    use_spot: bool
    hourly_cost: float
    num_nodes: int
    launchable: bool
    hint: str | None
    _resources: Resources | None = attrs.field(
        default=None, eq=False, repr=False, alias="resources"
    )
    choice: int = 0
    # the task's own (unfilled) resources; ``resources`` is derived from it on use
    _base: Resources | None = attrs.field(default=None, eq=False, repr=False, alias="base")

    @property
    def resources(self) -> Resources | None:
        """The task's resources with cloud, region, zone, instance type and accelerators filled."""
        if self._resources is not None or self._base is None:
            return self._resources
        return attrs.evolve(
            self._base,
            cloud=self.cloud,
            region=self.region,
            zone=self.zone,
            instance_type=self.instance_type,
            accelerators=self.accelerators,
            use_spot=self.use_spot,
        )

    @property
    def total_hourly_cost(self) -> float:
        """Hourly cost of all nodes."""
        return self.hourly_cost * self.num_nodes

    @property
    def infra(self) -> str:
        """``cloud/region[/zone]`` as shown in tables."""
        return "/".join(p for p in (self.cloud, self.region, self.zone) if p)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used by ``stix launch --dryrun --json``."""
        return {
            "cloud": self.cloud,
            "region": self.region,
            "zone": self.zone,
            "instance_type": self.instance_type,
            "accelerators": self.accelerators,
            "vcpus": self.vcpus,
            "memory_gib": self.memory_gib,
            "use_spot": self.use_spot,
            "hourly_cost": round(self.hourly_cost, 6),
            "launchable": self.launchable,
            "hint": self.hint,
        }


@attrs.frozen
class Blocked:
    """A pattern of placements to avoid; unset fields match anything."""

    cloud: str
    region: str | None = None
    zone: str | None = None
    instance_type: str | None = None

    def matches(
        self, cloud: str, region: str | None, zone: str | None, instance_type: str | None
    ) -> bool:
        """Whether a placement falls under this pattern."""
        return (
            self.cloud == cloud
            and (self.region is None or self.region == region)
            and (self.zone is None or self.zone == zone)
            and (self.instance_type is None or self.instance_type == instance_type)
        )

    @classmethod
    def from_candidate(cls, candidate: Candidate, scope: str) -> Blocked:
        """The pattern blocking ``candidate`` at ``scope`` (zone, region or cloud)."""
        if scope == "cloud":
            return cls(candidate.cloud)
        if scope == "instance_type":
            return cls(candidate.cloud, candidate.region, candidate.zone, candidate.instance_type)
        if scope == "region" or candidate.zone is None:
            return cls(candidate.cloud, candidate.region, instance_type=None)
        return cls(candidate.cloud, candidate.region, candidate.zone)


@attrs.frozen(slots=False)
class TaskPlan:
    """The plan for one task: the chosen candidate and the ordered failover list.

    ``failover`` starts with the chosen candidate's other zones, then its
    region's neighbours, other regions by price, then the next candidates; it
    may be given as a zero-argument function and is then built on first use.
    ``considered`` holds the best candidate per cloud and accelerator (the
    rows of the dry-run table), cheapest first.
    """

    task: Task
    chosen: Candidate
    _failover: tuple[Candidate, ...] | Callable[[], tuple[Candidate, ...]] = attrs.field(
        alias="failover", eq=False, repr=False
    )
    considered: tuple[Candidate, ...]
    hours: float = 1.0

    @functools.cached_property
    def failover(self) -> tuple[Candidate, ...]:
        """Where provisioning goes next, in order (built once, on first use)."""
        value = self._failover
        return tuple(value() if callable(value) else value)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form of one task's plan."""
        out = {"name": self.task.name, "num_nodes": self.chosen.num_nodes, **self.chosen.as_dict()}
        out["failover"] = [c.as_dict() for c in self.failover]
        return out


@attrs.frozen
class Plan:
    """The optimizer's answer for a task or DAG (tasks in the DAG's order)."""

    tasks: list[TaskPlan]
    edges: tuple[tuple[int, int], ...] = ()
    minimize: str = "cost"
    objective: float = 0.0
    egress_cost: float = 0.0

    @property
    def hourly_cost(self) -> float:
        """Sum of every task's hourly cost (all nodes)."""
        return sum(tp.chosen.total_hourly_cost for tp in self.tasks)

    @property
    def total_cost(self) -> float:
        """Estimated cost of the whole plan (runtime estimates plus egress)."""
        return sum(tp.chosen.total_hourly_cost * tp.hours for tp in self.tasks) + self.egress_cost

    def as_dict(self) -> dict[str, Any]:
        """``{"tasks": [...]}`` as printed by ``--json``."""
        return {
            "tasks": [tp.as_dict() for tp in self.tasks],
            "hourly_cost": round(self.hourly_cost, 6),
            "total_cost": round(self.total_cost, 6),
            "egress_cost": round(self.egress_cost, 6),
            "minimize": self.minimize,
        }


__all__ = ["Blocked", "Candidate", "Plan", "TaskPlan"]
