"""boto3 sessions and clients for STIX, created lazily and reused per thread.

Credentials come from boto3's standard chain (environment, ``~/.aws``,
profiles, SSO, instance role). ``AWS_ENDPOINT_URL`` and the per-service
``AWS_ENDPOINT_URL_<SERVICE>`` variables are honoured by boto3 itself.
"""

from __future__ import annotations

import os
import threading
from typing import Any

DEFAULT_REGION = "us-east-1"
_LOCAL = threading.local()


def _config(fast: bool, retry: bool) -> Any:
    from botocore.config import Config

    if not retry:  # failover wants a capacity error at once, not after backoff
        return Config(retries={"total_max_attempts": 1})
    if fast:
        return Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 2})
    return Config(retries={"max_attempts": 5, "mode": "standard"})


def _environment() -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))


def session() -> Any:
    """This thread's boto3 session (sessions are not thread-safe, clients are).

    A new session is made when any ``AWS_*`` environment variable changed.
    """
    import boto3

    env = _environment()
    if getattr(_LOCAL, "env", None) != env:
        reset()
        _LOCAL.env = env
    current = getattr(_LOCAL, "session", None)
    if current is None:
        current = boto3.session.Session()
        _LOCAL.session = current
    return current


def reset() -> None:
    """Forget this thread's session and clients (after credentials or endpoints change)."""
    _LOCAL.session = None
    _LOCAL.clients = {}


def client(
    service: str, region: str | None = None, *, fast: bool = False, retry: bool = True
) -> Any:
    """A boto3 client for ``service`` in ``region`` (default: the profile's or us-east-1).

    :param fast: short timeouts and few retries, for interactive checks.
    :param retry: False for a client that never retries (instance launches).
    """
    sess = session()
    cache: dict[tuple[str, str, bool, bool], Any] = getattr(_LOCAL, "clients", None) or {}
    _LOCAL.clients = cache
    where = region or sess.region_name or DEFAULT_REGION
    key = (service, where, fast, retry)
    made = cache.get(key)
    if made is None:
        made = sess.client(service, region_name=where, config=_config(fast, retry))
        cache[key] = made
    return made


__all__ = ["DEFAULT_REGION", "client", "reset", "session"]
