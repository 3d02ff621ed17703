"""The failover loop: walk the optimizer's ordered candidates, block what fails, retry if asked.

Every cloud plugs in through its provisioner; errors are ``ProvisionError`` subclasses
whose ``scope`` (zone, region, cloud, abort) decides what gets blocked.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from stix.errors import ProvisionError, ResourcesUnavailableError
from stix.provision.attempt import Provisioned, provision

FIRST_BACKOFF_S = 30.0
MAX_BACKOFF_S = 600.0


def _backoff_start() -> float:
    return float(os.environ.get("STIX_RETRY_BACKOFF", FIRST_BACKOFF_S))


def provision_with_failover(
    task: Any,
    *,
    cluster_name: str,
    cluster_name_on_cloud: str,
    retry_until_up: bool = False,
    on_attempt: Callable[[Any], None] | None = None,
    registry: Any = None,
    max_rounds: int | None = None,
) -> Provisioned:
    """Provision ``task`` somewhere, trying the optimizer's choices in order.

    :param on_attempt: called with each candidate before it is tried (records INIT state).
    :param max_rounds: with ``retry_until_up``, stop after this many rounds (tests).
    :raises stix.errors.ResourcesUnavailableError: every candidate failed (reasons listed).
    """
    from stix.optimizer import Blocked, optimize
    from stix.plugins import get_registry
    from stix.runner.container import task_login

    registry = registry or get_registry()
    login = task_login(task)  # container clouds pull private images with it
    blocked: list[Any] = []
    failures: list[str] = []
    backoff = _backoff_start()
    rounds = 0

    def is_blocked(c: Any) -> bool:
        return any(b.matches(c.cloud, c.region, c.zone, c.instance_type) for b in blocked)

    while True:
        rounds += 1
        tried_any = False
        while True:
            try:
                plan = optimize(
                    task, blocked=tuple(blocked), launchable_only=True, registry=registry
                )
            except ResourcesUnavailableError:
                if not failures:
                    raise
                break
            plan_task = plan.tasks[0]
            fresh = [
                c
                for c in (plan_task.chosen, *plan_task.failover)
                if c.launchable and not is_blocked(c)
            ]
            if not fresh:
                break
            for candidate in fresh:
                if is_blocked(candidate):  # a failure earlier in this pass may cover it
                    continue
                tried_any = True
                if on_attempt is not None:
                    on_attempt(candidate)
                resources = candidate.resources or task.resources[candidate.choice]
                try:
                    return provision(
                        registry.provisioner(candidate.cloud),
                        candidate,
                        cluster_name=cluster_name,
                        cluster_name_on_cloud=cluster_name_on_cloud,
                        resources=resources,
                        docker_login=login,
                    )
                except ProvisionError as exc:
                    if exc.scope == "abort":
                        raise
                    failures.append(
                        f"{candidate.infra} {candidate.instance_type or ''}: {exc.message}"
                    )
                    blocked.append(Blocked.from_candidate(candidate, exc.scope))
        if not retry_until_up or (max_rounds is not None and rounds >= max_rounds):
            break
        if not tried_any and not failures:
            break
        time.sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_S)
        blocked = []
    reasons = "; ".join(failures[-5:]) or "no candidate"
    raise ResourcesUnavailableError(
        f"failed to provision cluster {cluster_name!r} after {len(failures)} attempt(s): {reasons}",
        hint="retry with --retry-until-up, or relax the resources",
    )
