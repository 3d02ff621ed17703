"""Validation problems raised while parsing task YAML, before they get a file and line.

``Invalid`` carries the field path as a tuple (``("resources", "any_of", 1, "cpus")``);
the loader maps it to a YAML line and turns it into ``stix.errors.TaskError``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

Path = tuple[Any, ...]


class Invalid(ValueError):
    """A field of a task YAML is invalid; ``path`` is relative to where it is raised."""

    def __init__(self, message: str, path: Path = (), hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = tuple(path)
        self.hint = hint
        # further problems found in the same pass (the loader reports the earliest in the file)
        self.others: list[Invalid] = []

    def under(self, prefix: Path) -> Invalid:
        """Return the same problem (and its ``others``) with ``prefix`` prepended to the path."""
        moved = Invalid(self.message, tuple(prefix) + self.path, self.hint)
        moved.others = [other.under(prefix) for other in self.others]
        return moved


def format_path(path: Path) -> str:
    """Render ``("a", 1, "b")`` as ``a[1].b``."""
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def suggest(key: str, valid: Iterable[str]) -> str | None:
    """Closest valid key to a misspelt ``key``, or None."""
    matches = difflib.get_close_matches(str(key), sorted(valid), n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_key(key: Any, valid: Iterable[str], path: Path = ()) -> Invalid:
    """The problem for an unknown mapping key, with a did-you-mean suggestion."""
    near = suggest(str(key), valid)
    message = f"unknown field {str(key)!r}"
    if near:
        message += f"; did you mean {near!r}?"
    return Invalid(message, (*path, key))


def check_keys(data: Mapping[str, Any], valid: Iterable[str], path: Path = ()) -> None:
    """Raise ``Invalid`` for the first key of ``data`` not in ``valid``."""
    allowed = set(valid)
    unknown = [key for key in data if key not in allowed]
    if len(unknown) == 1:
        raise unknown_key(unknown[0], allowed, path)
    if unknown:
        names = ", ".join(repr(str(k)) for k in unknown)
        raise Invalid(f"unknown fields {names}", (*path, unknown[0]))


def require_mapping(value: Any, path: Path = (), what: str = "a mapping") -> dict[Any, Any]:
    """Return ``value`` if it is a dict, else raise ``Invalid``."""
    if not isinstance(value, dict):
        raise Invalid(f"must be {what}, got {type_name(value)}", path)
    return value


def type_name(value: Any) -> str:
    """Short YAML-ish name of a value's type for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__
