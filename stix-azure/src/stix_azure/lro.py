"""Waiting on Azure long-running operations: a bounded wait with a progress line now and then.

Resource Manager answers a create or delete with ``202``/``201`` and an
``Azure-AsyncOperation`` or ``Location`` URL; the SDK's poller follows it. STIX
never waits without a limit: past ``timeout`` it raises a ``ProvisionError``.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from stix.errors import ProvisionError

DEFAULT_TIMEOUT = 900.0
PROGRESS_EVERY = 20.0


def say(line: str) -> None:
    """Print one progress line for the user (stderr)."""
    print(line, file=sys.stderr, flush=True)


def wait(poller: Any, what: str, timeout: float = DEFAULT_TIMEOUT) -> Any:
    """The poller's result once done; a line every ``PROGRESS_EVERY`` seconds meanwhile.

    :raises stix.errors.ProvisionError: not done within ``timeout`` seconds (scope region).
    :raises azure.core.exceptions.HttpResponseError: the operation failed.
    """
    started = time.monotonic()
    deadline = started + timeout
    next_note = started + PROGRESS_EVERY
    while not poller.done():
        now = time.monotonic()
        if now >= deadline:
            raise ProvisionError(
                f"azure: {what} did not finish within {timeout:.0f} s (still {poller.status()})",
                hint="raise azure.wait_seconds, or look at the activity log in the Azure portal",
                scope="region",
            )
        if now >= next_note:
            say(f"  azure: {what}: {poller.status()} for {now - started:.0f} s")
            next_note = now + PROGRESS_EVERY
        poller.wait(min(1.0, max(0.05, deadline - now)))
    return poller.result()


def wait_all(pollers: list[tuple[str, Any]], timeout: float = DEFAULT_TIMEOUT) -> list[Any]:
    """Wait on several pollers under one deadline; the first failure is raised after all end."""
    deadline = time.monotonic() + timeout
    results: list[Any] = []
    first: BaseException | None = None
    for what, poller in pollers:
        try:
            results.append(wait(poller, what, max(1.0, deadline - time.monotonic())))
        except Exception as exc:
            results.append(None)
            first = first or exc
    if first is not None:
        raise first
    return results


__all__ = ["DEFAULT_TIMEOUT", "say", "wait", "wait_all"]
