"""Where the RunPod API key comes from, and ``stix check runpod``.

RunPod's CLI (``runpodctl config``) and SDK keep the key in
``~/.runpod/config.toml`` under ``[default]`` as ``api_key = "..."``;
``$RUNPOD_API_KEY`` wins over the file.
"""

from __future__ import annotations

import os
from pathlib import Path

from stix.errors import CredentialsError, ProvisionError
from stix.interfaces import CheckResult

from stix_runpod.api import CREDENTIALS_HINT

ENV_VAR = "RUNPOD_API_KEY"
WHOAMI = "query Myself { myself { id email } }"


def config_file() -> Path:
    """``~/.runpod/config.toml``."""
    return Path.home() / ".runpod" / "config.toml"


def _from_toml(text: str) -> str | None:
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None
    section = data.get("default")
    value = section.get("api_key") if isinstance(section, dict) else data.get("api_key")
    return str(value).strip() if value else None


def find_key() -> tuple[str, str] | None:
    """``(api key, where it was found)``, or ``None``."""
    value = os.environ.get(ENV_VAR, "").strip()
    if value:
        return value, f"${ENV_VAR}"
    try:
        text = config_file().read_text()
    except OSError:
        return None
    key = _from_toml(text)
    return (key, "~/.runpod/config.toml") if key else None


def api_key() -> str:
    """The API key; raises :class:`stix.errors.CredentialsError` when none is set."""
    found = find_key()
    if found is None:
        raise CredentialsError("runpod: no API key found", hint=CREDENTIALS_HINT)
    return found[0]


def check() -> CheckResult:
    """Find the key and ask RunPod whose it is; never raises."""
    from stix_runpod.api import RunpodApi, RunpodApiError

    found = find_key()
    if found is None:
        return CheckResult(
            False, f"no API key in ${ENV_VAR} or ~/.runpod/config.toml", CREDENTIALS_HINT
        )
    key, where = found
    api = RunpodApi(key)
    try:
        me = api.call(WHOAMI).get("myself") or {}
    except RunpodApiError as exc:
        return CheckResult(
            False, f"RunPod rejected the key from {where} ({exc.message})", CREDENTIALS_HINT
        )
    except ProvisionError as exc:  # the API cannot be reached
        return CheckResult(
            False, exc.message.removeprefix("runpod: "), "check the network or STIX_RUNPOD_API_URL"
        )
    who = me.get("email") or me.get("id") or "unknown user"
    return CheckResult(True, f"{who} (API key from {where})")


__all__ = ["ENV_VAR", "api_key", "check", "config_file", "find_key"]
