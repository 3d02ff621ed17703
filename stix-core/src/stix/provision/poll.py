"""Polling with a deadline and backoff, for provisioners' ``wait_instances``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from stix.errors import ProvisionError

T = TypeVar("T")


def until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    first_delay: float = 0.2,
    max_delay: float = 5.0,
) -> T:
    """Call ``probe`` until it returns something other than ``None``, and return that.

    Sleeps ``first_delay`` after the first miss, doubling up to ``max_delay``. An
    exception from ``probe`` ends the wait (so a probe can fail fast on a state that
    will never change).

    :param timeout: seconds before giving up.
    :param what: the message of the error, e.g. ``"lambda: cluster c-1 not UP"``.
    :raises stix.errors.ProvisionError: (scope ``zone``) ``"<what> after <timeout> s"``.
    """
    deadline = time.monotonic() + timeout
    delay = first_delay
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise ProvisionError(f"{what} after {timeout:.0f} s", scope="zone")
        time.sleep(delay)
        delay = min(delay * 2, max_delay)


__all__ = ["until"]
