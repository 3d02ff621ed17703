"""Autostop commands built from a plugin's stdlib-only script, and API-key environments.

A cloud plugin ships its head-side autostop script as a module next to its provisioner
(``node_autostop.py``); :func:`script_commands` turns it into the ``python3 -c`` argv
per action that ``Provisioner.autostop_commands`` returns. :func:`api_key_env` is what
``Provisioner.autostop_env`` returns on clouds whose nodes act with the user's API key.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def script_commands(
    beside: str, filename: str, actions: Iterable[str] = ("stop", "down")
) -> dict[str, list[str]]:
    """``{action: ["python3", "-c", <script>, action]}`` for the script ``filename`` found
    in the folder of the module file ``beside`` (pass ``__file__``)."""
    script = (Path(beside).parent / filename).read_text()
    return {action: ["python3", "-c", script, action] for action in actions}


def api_key_env(key_var: str, key: str, url_var: str, url: str, default_url: str) -> dict[str, str]:
    """The API key under ``key_var``, and the API's URL under ``url_var`` when it is not
    the provider's own (a test fake, a proxy)."""
    env = {key_var: key}
    if url.rstrip("/") != default_url.rstrip("/"):
        env[url_var] = url
    return env
