"""Replica and service states (SkyPilot's names) and how a service's state follows its replicas."""

from __future__ import annotations

from collections.abc import Iterable

# Replica states
PENDING = "PENDING"
PROVISIONING = "PROVISIONING"
STARTING = "STARTING"
READY = "READY"
NOT_READY = "NOT_READY"
SHUTTING_DOWN = "SHUTTING_DOWN"
FAILED = "FAILED"
FAILED_INITIAL_DELAY = "FAILED_INITIAL_DELAY"
FAILED_PROBING = "FAILED_PROBING"
FAILED_PROVISION = "FAILED_PROVISION"
FAILED_CLEANUP = "FAILED_CLEANUP"
PREEMPTED = "PREEMPTED"
UNKNOWN = "UNKNOWN"

REPLICA_STATES = (
    PENDING,
    PROVISIONING,
    STARTING,
    READY,
    NOT_READY,
    SHUTTING_DOWN,
    FAILED,
    FAILED_INITIAL_DELAY,
    FAILED_PROBING,
    FAILED_PROVISION,
    FAILED_CLEANUP,
    PREEMPTED,
    UNKNOWN,
)
# A replica in one of these has no cluster any more (or never had one).
TERMINAL = frozenset(
    {FAILED, FAILED_INITIAL_DELAY, FAILED_PROBING, FAILED_PROVISION, FAILED_CLEANUP, PREEMPTED}
)
# Failures that say the version itself is broken (counted against relaunching it).
USER_FAILURES = frozenset({FAILED, FAILED_INITIAL_DELAY, FAILED_PROVISION})
# Scale-down preference: the least useful replica goes first.
SCALE_DOWN_ORDER = (PENDING, PROVISIONING, STARTING, NOT_READY, READY)

# Service states
CONTROLLER_INIT = "CONTROLLER_INIT"
REPLICA_INIT = "REPLICA_INIT"
CONTROLLER_FAILED = "CONTROLLER_FAILED"
SERVICE_READY = "READY"
SERVICE_SHUTTING_DOWN = "SHUTTING_DOWN"
SERVICE_FAILED = "FAILED"
SERVICE_FAILED_CLEANUP = "FAILED_CLEANUP"
NO_REPLICA = "NO_REPLICA"

SERVICE_STATES = (
    CONTROLLER_INIT,
    REPLICA_INIT,
    CONTROLLER_FAILED,
    SERVICE_READY,
    SERVICE_SHUTTING_DOWN,
    SERVICE_FAILED,
    SERVICE_FAILED_CLEANUP,
    NO_REPLICA,
)


def service_status(replica_states: Iterable[str]) -> str:
    """A running service's state from the states of its recorded replicas.

    Any replica READY makes the service READY; else any failed replica makes it FAILED;
    no live replica at all is NO_REPLICA; anything else is still coming up (REPLICA_INIT).
    Preempted replicas are not failures: they are replaced, and dropped from the record.
    """
    states = list(replica_states)
    if READY in states:
        return SERVICE_READY
    if any(s in TERMINAL and s != PREEMPTED for s in states):
        return SERVICE_FAILED
    if not [s for s in states if s not in TERMINAL]:
        return NO_REPLICA
    return REPLICA_INIT


def scale_down_key(status: str, version: int, replica_id: int) -> tuple[int, int, int]:
    """Sort key: first in the list is the first to remove (state, older version, newer id)."""
    rank = SCALE_DOWN_ORDER.index(status) if status in SCALE_DOWN_ORDER else -1
    return (rank, version, -replica_id)
