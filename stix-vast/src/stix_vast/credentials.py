"""Where the Vast.ai API key comes from, and ``stix check vast``.

The ``vastai`` CLI saves the key in ``~/.vast_api_key`` (newer releases in
``~/.config/vastai/vast_api_key``); ``$VAST_API_KEY`` wins over both.
"""

from __future__ import annotations

import os
from pathlib import Path

from stix.errors import CredentialsError, ProvisionError
from stix.interfaces import CheckResult

from stix_vast.api import CREDENTIALS_HINT

ENV_VAR = "VAST_API_KEY"


def key_files() -> list[tuple[Path, str]]:
    """The key files the ``vastai`` CLI writes, with how to name them."""
    home = Path.home()
    return [
        (home / ".vast_api_key", "~/.vast_api_key"),
        (home / ".config" / "vastai" / "vast_api_key", "~/.config/vastai/vast_api_key"),
    ]


def find_key() -> tuple[str, str] | None:
    """``(api key, where it was found)``, or ``None``."""
    value = os.environ.get(ENV_VAR, "").strip()
    if value:
        return value, f"${ENV_VAR}"
    for path, shown in key_files():
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text:
            return text.split()[0], shown
    return None


def api_key() -> str:
    """The API key; raises :class:`stix.errors.CredentialsError` when none is set."""
    found = find_key()
    if found is None:
        raise CredentialsError("vast: no API key found", hint=CREDENTIALS_HINT)
    return found[0]


def check() -> CheckResult:
    """Find the key and ask Vast whose it is (``GET /users/current/``); never raises."""
    from stix_vast.api import VastApi, VastApiError

    found = find_key()
    if found is None:
        return CheckResult(False, f"no API key in ${ENV_VAR} or ~/.vast_api_key", CREDENTIALS_HINT)
    key, where = found
    api = VastApi(key)
    try:
        me = api.call("GET", "/users/current/") or {}
    except VastApiError as exc:
        return CheckResult(
            False,
            f"Vast.ai rejected the key from {where} ({exc.code or exc.status})",
            CREDENTIALS_HINT,
        )
    except ProvisionError as exc:  # the API cannot be reached
        return CheckResult(
            False, exc.message.removeprefix("vast: "), "check the network or STIX_VAST_API_URL"
        )
    who = me.get("email") or me.get("username") or me.get("id") or "unknown user"
    credit = me.get("credit")
    shown = f", credit ${float(credit):.2f}" if isinstance(credit, (int, float)) else ""
    return CheckResult(True, f"{who} (API key from {where}{shown})")


__all__ = ["ENV_VAR", "api_key", "check", "find_key", "key_files"]
