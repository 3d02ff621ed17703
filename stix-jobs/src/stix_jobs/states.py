"""Managed-job states (SkyPilot's names) and how a cluster job's state maps onto them.

Stdlib only: the controller node's short-lived commands import this.
"""

from __future__ import annotations

PENDING = "PENDING"
STARTING = "STARTING"
RUNNING = "RUNNING"
RECOVERING = "RECOVERING"
CANCELLING = "CANCELLING"
SUCCEEDED = "SUCCEEDED"
CANCELLED = "CANCELLED"
FAILED = "FAILED"
FAILED_SETUP = "FAILED_SETUP"
FAILED_PRECHECKS = "FAILED_PRECHECKS"
FAILED_NO_RESOURCE = "FAILED_NO_RESOURCE"
FAILED_CONTROLLER = "FAILED_CONTROLLER"

ALL = (
    PENDING,
    STARTING,
    RUNNING,
    RECOVERING,
    CANCELLING,
    SUCCEEDED,
    CANCELLED,
    FAILED,
    FAILED_SETUP,
    FAILED_PRECHECKS,
    FAILED_NO_RESOURCE,
    FAILED_CONTROLLER,
)
TERMINAL = frozenset(
    {
        SUCCEEDED,
        CANCELLED,
        FAILED,
        FAILED_SETUP,
        FAILED_PRECHECKS,
        FAILED_NO_RESOURCE,
        FAILED_CONTROLLER,
    }
)
ACTIVE = tuple(s for s in ALL if s not in TERMINAL)
FAILURES = frozenset(TERMINAL - {SUCCEEDED, CANCELLED})

# Cluster-job states (the node agent's) that end a job.
AGENT_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "FAILED_SETUP", "FAILED_DRIVER", "CANCELLED"})
AGENT_USER_FAILURES = frozenset({"FAILED", "FAILED_SETUP", "FAILED_DRIVER"})

# Pool worker states.
W_PROVISIONING = "PROVISIONING"
W_READY = "READY"
W_SHUTTING_DOWN = "SHUTTING_DOWN"
W_FAILED = "FAILED"

# Recovery strategies (``resources.job_recovery.strategy``).
EAGER_NEXT_REGION = "EAGER_NEXT_REGION"
FAILOVER = "FAILOVER"
STRATEGIES = (EAGER_NEXT_REGION, FAILOVER)
DEFAULT_STRATEGY = EAGER_NEXT_REGION


def is_terminal(status: str | None) -> bool:
    """Whether a managed job in ``status`` is finished."""
    return status in TERMINAL
