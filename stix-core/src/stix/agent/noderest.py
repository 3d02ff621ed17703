"""JSON over HTTP(S) with the standard library, for a cloud's autostop script on the head.

Clouds whose nodes have no identity of their own (Lambda, RunPod, Vast) stop or tear down
their cluster from the head with the user's API key. Their scripts run under the agent
(``PYTHONPATH`` holds the agent's zipapp) and import :func:`call` from here as
``stix_agent.noderest``; outside a node (tests) the same module is ``stix.agent.noderest``.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import Any, Optional


class ApiError(Exception):
    """An HTTP error answer: its status and the start of its body."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__("HTTP %d: %s" % (status, text))
        self.status = status
        self.text = text


def call(
    method: str, url: str, token: str, body: Any = None, missing_ok: bool = False
) -> Optional[Any]:
    """One request with ``Authorization: Bearer <token>``; the decoded JSON answer.

    A 404 answer returns ``None`` when ``missing_ok`` (the thing is already gone); any
    other error raises :class:`ApiError`. The token never appears in an error.
    """
    request = urllib.request.Request(
        url,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            data = reply.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404 and missing_ok:
            return None
        raise ApiError(exc.code, exc.read().decode(errors="replace")[:300].replace(token, "***"))
    return json.loads(data) if data.strip() else None


def run(main: Any, usage: str) -> None:
    """Run ``main(action)`` with the script's argument; an :class:`ApiError` is one line."""
    action = sys.argv[1] if len(sys.argv) > 1 else ""
    try:
        code = main(action)
    except ApiError as exc:
        print("stix: autostop: %s" % exc, file=sys.stderr)
        code = 1
    if code == 2:
        print("usage: %s" % usage, file=sys.stderr)
    sys.exit(code)
