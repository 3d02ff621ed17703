"""Keep secret values out of everything STIX prints or stores.

Code that learns a secret (a task's ``secrets:``, a ``--secret`` flag)
registers it here; :func:`redact` replaces every registered value in a text.
"""

from __future__ import annotations

MASK = "<redacted>"
_SECRETS: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember ``value`` so it is masked from now on (short values are ignored)."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``<redacted>``."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


__all__ = ["MASK", "redact", "register_secret"]
