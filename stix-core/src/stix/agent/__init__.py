"""The node agent: a stdlib-only job queue, scheduler and autostop daemon for one cluster.

It runs on the head node (Python >= 3.8, no third-party packages) and is shipped there
as a single zipapp built by :func:`build_zipapp`. The client talks to it by running
``python3 <agent.pyz> <subcommand>`` through a command runner; replies are JSON on stdout.
"""

from __future__ import annotations

import typing

if typing.TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

PROTOCOL_VERSION = 1


def build_zipapp(dest: "Path | str") -> "Path":
    """Build the agent as one runnable file at ``dest`` (a ``.pyz`` zipapp) and return its path."""
    from .build import build_zipapp as _build

    return _build(dest)
