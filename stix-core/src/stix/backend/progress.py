"""Step lines on stderr (``⚙ Provisioning...  done 0.4s``); colour only on a TTY."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


def _tty() -> bool:
    return sys.stderr.isatty() and not os.environ.get("NO_COLOR")


def info(message: str) -> None:
    """One status line on stderr."""
    if os.environ.get("STIX_QUIET"):
        return
    text = f"\033[2m{message}\033[0m" if _tty() else message
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


@contextmanager
def step(message: str) -> Iterator[None]:
    """Show ``message`` while a stage runs, then how long it took (or that it failed)."""
    quiet = bool(os.environ.get("STIX_QUIET"))
    start = time.monotonic()
    if not quiet:
        prefix = "\033[36m⚙\033[0m " if _tty() else "⚙ "
        sys.stderr.write(f"{prefix}{message}...")
        sys.stderr.flush()
    try:
        yield
    except BaseException:
        if not quiet:
            sys.stderr.write(" failed\n")
        raise
    if not quiet:
        sys.stderr.write(f" done ({time.monotonic() - start:.1f}s)\n")
        sys.stderr.flush()
