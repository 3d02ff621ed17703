"""Job states of the cluster job queue (SkyPilot's ``JobStatus``, in order) and their groups."""

from __future__ import annotations

INIT = "INIT"
PENDING = "PENDING"
SETTING_UP = "SETTING_UP"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
FAILED_SETUP = "FAILED_SETUP"
FAILED_DRIVER = "FAILED_DRIVER"
CANCELLED = "CANCELLED"

ORDER = (
    INIT,
    PENDING,
    SETTING_UP,
    RUNNING,
    FAILED_DRIVER,
    SUCCEEDED,
    FAILED,
    FAILED_SETUP,
    CANCELLED,
)
NON_TERMINAL = (INIT, PENDING, SETTING_UP, RUNNING)
ACTIVE = (SETTING_UP, RUNNING)
TERMINAL = (SUCCEEDED, FAILED, FAILED_SETUP, FAILED_DRIVER, CANCELLED)


def is_terminal(status: str) -> bool:
    """True when ``status`` is final."""
    return status in TERMINAL
