"""A small JSON-over-HTTP client for cloud plugins whose API is REST/JSON (standard library only).

Plugins of GPU clouds (Lambda, RunPod, Vast...) call a handful of endpoints with a
bearer token; :func:`request` does one call with ``urllib`` and returns the status
and decoded JSON whatever the status, so each plugin reads its own error envelope.
:func:`base_url` reads the override every plugin offers so tests can point it at a
fake server. The token is sent in a header and never appears in an error message.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import attrs

from stix.errors import ProvisionError

DEFAULT_TIMEOUT_S = 60.0


@attrs.frozen
class Answer:
    """One HTTP answer: status, decoded JSON body (``None`` when not JSON) and reason phrase."""

    status: int
    payload: Any
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status < 400


def base_url(env_var: str, config_key: str, default: str) -> str:
    """An API's base URL: ``$env_var``, else ``config_key`` in the config, else ``default``.

    :param env_var: for example ``STIX_LAMBDA_API_URL``.
    :param config_key: dotted config key, for example ``lambda.api_url``.
    :returns: the URL without a trailing slash.
    """
    url = os.environ.get(env_var)
    if not url:
        from stix.config import load_config

        url = load_config().get(config_key) or default
    return str(url).rstrip("/")


def request(
    method: str,
    url: str,
    *,
    token: str | None = None,
    body: Any = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    what: str = "cloud",
) -> Answer:
    """Send one request with a JSON body (when ``body`` is not ``None``) and read the answer.

    :param token: sent as ``Authorization: Bearer <token>``.
    :param what: who is asking, for the error message (``lambda``).
    :returns: the answer, also for 4xx/5xx statuses.
    :raises stix.errors.ProvisionError: (scope ``cloud``) when the server cannot be reached.
    """
    headers = {"Accept": "application/json", "User-Agent": "stix"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, reason, raw = resp.status, str(resp.reason or ""), resp.read()
    except urllib.error.HTTPError as exc:
        status, reason, raw = exc.code, str(exc.reason or ""), exc.read()
    except OSError as exc:  # URLError, refused connections, timeouts
        cause = getattr(exc, "reason", None) or exc
        host = urllib.parse.urlsplit(url)
        raise ProvisionError(
            f"{what}: cannot reach {host.scheme}://{host.netloc}{host.path}: {cause}", scope="cloud"
        ) from exc
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = None
    return Answer(status, payload, reason)


__all__ = ["DEFAULT_TIMEOUT_S", "Answer", "base_url", "request"]
