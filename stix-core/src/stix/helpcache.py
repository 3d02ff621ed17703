"""A cache of ``stix --help`` so the most common first command starts in milliseconds.

Rendering the top-level help needs click and every plugin's entry module. The
text is stored in ``$STIX_HOME/cache/help.txt`` with what it depends on: the
interpreter, the terminal width, the ``sys.path`` folders (installing or
removing a distribution changes their mtime) and every STIX module that was
loaded to render it. Any change means a miss, and the help is rendered again.

Only ``os`` and ``sys`` are imported: even ``json`` (with ``re`` and ``enum`` behind it)
would be a fifth of a cached ``stix --help``. The file is lines: a format tag, the key,
the number of watched files, one ``<mtime> <path>`` line each, then the help text.
"""

from __future__ import annotations

import os
import sys

HELP_ARGS = ((), ("--help",), ("-h",))
FORMAT = "stix-help-cache 2"
_SEP = "\x1f"  # between the fields of the key line


def _home() -> str:
    home = os.environ.get("STIX_HOME")
    return os.path.expanduser(home) if home else os.path.join(os.path.expanduser("~"), ".stix")


def _path() -> str:
    return os.path.join(_home(), "cache", "help.txt")


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


def _key(argv: tuple[str, ...]) -> str | None:
    """One line naming everything the help depends on; None when a part cannot be kept."""
    from stix import __version__

    folders = [f"{p}={_mtime(p)}" for p in sys.path if p and os.path.isdir(p)]
    watched = [os.environ.get("STIX_PLUGINS") or "", os.environ.get("STIX_DISABLE_PLUGINS") or ""]
    parts = [__version__, sys.executable, " ".join(argv), str(_width()), *watched, *folders]
    if any("\n" in p or _SEP in p for p in parts):
        return None
    return _SEP.join(parts)


def lookup(argv: tuple[str, ...]) -> str | None:
    """The cached help for ``argv`` if nothing it depends on changed, else ``None``."""
    if argv not in HELP_ARGS or os.environ.get("STIX_NO_HELP_CACHE"):
        return None
    try:
        with open(_path(), encoding="utf-8") as handle:
            tag, key, count = (handle.readline().rstrip("\n") for _ in range(3))
            if tag != FORMAT or key != _key(argv) or not count.isdigit():
                return None
            for _ in range(int(count)):
                mtime, _, path = handle.readline().rstrip("\n").partition(" ")
                if not path or str(_mtime(path)) != mtime:
                    return None
            return handle.read() or None
    except (OSError, ValueError):
        return None


def store(argv: tuple[str, ...], text: str) -> None:
    """Remember ``text`` as the help for ``argv`` (best effort: errors are ignored)."""
    key = _key(argv)
    files = {}
    for name, module in list(sys.modules.items()):
        top = name.split(".")[0]
        path = getattr(module, "__file__", None)
        if path and (top == "stix" or top.startswith("stix_")) and "\n" not in path:
            files[path] = _mtime(path)
    if key is None:
        return
    lines = [FORMAT, key, str(len(files)), *(f"{mtime} {path}" for path, mtime in files.items())]
    path = _path()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n" + text)
        os.replace(tmp, path)
    except OSError:
        pass
