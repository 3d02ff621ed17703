"""A cache of ``stix --help`` so the most common first command starts in milliseconds.

Rendering the top-level help needs click and every plugin's entry module. The
text is stored in ``$STIX_HOME/cache/help.json`` with what it depends on: the
interpreter, the terminal width, the ``sys.path`` folders (installing or
removing a distribution changes their mtime) and every STIX module that was
loaded to render it. Any change means a miss, and the help is rendered again.
Only the standard library is imported here.
"""

from __future__ import annotations

import json
import os
import sys

HELP_ARGS = ((), ("--help",), ("-h",))


def _home() -> str:
    home = os.environ.get("STIX_HOME")
    return os.path.expanduser(home) if home else os.path.join(os.path.expanduser("~"), ".stix")


def _path() -> str:
    return os.path.join(_home(), "cache", "help.json")


def _width() -> int:
    try:
        return int(os.environ.get("COLUMNS") or os.get_terminal_size(sys.stdout.fileno()).columns)
    except (OSError, ValueError):
        return 80


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1


def _key(argv: tuple[str, ...]) -> list[object]:
    from stix import __version__

    folders = [[p, _mtime(p)] for p in sys.path if p and os.path.isdir(p)]
    watched = os.environ.get("STIX_PLUGINS"), os.environ.get("STIX_DISABLE_PLUGINS")
    return [__version__, sys.executable, list(argv), _width(), folders, list(watched)]


def lookup(argv: tuple[str, ...]) -> str | None:
    """The cached help for ``argv`` if nothing it depends on changed, else ``None``."""
    if argv not in HELP_ARGS or os.environ.get("STIX_NO_HELP_CACHE"):
        return None
    try:
        with open(_path()) as handle:
            entry = json.load(handle)
    except (OSError, ValueError):
        return None
    if entry.get("key") != _key(argv):
        return None
    for path, mtime in entry.get("files", {}).items():
        if _mtime(path) != mtime:
            return None
    text = entry.get("text")
    return text if isinstance(text, str) else None


def store(argv: tuple[str, ...], text: str) -> None:
    """Remember ``text`` as the help for ``argv`` (best effort: errors are ignored)."""
    files = {}
    for name, module in list(sys.modules.items()):
        top = name.split(".")[0]
        path = getattr(module, "__file__", None)
        if path and (top == "stix" or top.startswith("stix_")):
            files[path] = _mtime(path)
    entry = {"key": _key(argv), "files": files, "text": text}
    path = _path()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as handle:
            json.dump(entry, handle)
        os.replace(tmp, path)
    except OSError:
        pass
