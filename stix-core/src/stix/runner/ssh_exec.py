"""One remote command on an open SSH transport: stdin in, stdout/stderr out, exit code, timeout.

Works on the paramiko channel directly (select on the channel, large reads), so input
of any size is sent at once and output streams with no polling delay.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable
from typing import Any

_CHUNK = 65536


class CommandTimeout(Exception):
    """The command ran longer than its timeout (the channel was closed)."""


class ConnectionLost(Exception):
    """The connection failed; ``started`` says whether the command may have begun.

    ``started`` is False only when the session could not even be opened, so the
    command certainly never ran and may safely be sent again on a new connection.
    """

    def __init__(self, reason: str, *, started: bool) -> None:
        super().__init__(reason)
        self.started = started


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def execute(
    transport: Any,
    command: str,
    input: bytes | None = None,
    stream: Callable[[bytes], None] | None = None,
    timeout: float | None = None,
) -> tuple[int, bytes, bytes]:
    """Run ``command``; return (exit code, stdout, stderr).

    :param stream: when given, stdout chunks go to it as they arrive (and are not kept).
    :raises CommandTimeout: after ``timeout`` seconds (the remote side gets a hang-up).
    :raises ConnectionLost: when the connection fails; ``started`` is False only when no
        session could be opened (the command never ran).
    """
    import paramiko

    broken = (paramiko.SSHException, EOFError, OSError)
    try:
        chan = transport.open_session()
    except broken as exc:
        raise ConnectionLost(_reason(exc), started=False) from exc
    try:
        try:
            return _converse(chan, command, input, stream, timeout)
        except broken as exc:
            raise ConnectionLost(_reason(exc), started=True) from exc
    finally:
        chan.close()


def _converse(
    chan: Any,
    command: str,
    input: bytes | None,
    stream: Callable[[bytes], None] | None,
    timeout: float | None,
) -> tuple[int, bytes, bytes]:
    """Send ``command`` on the open session ``chan`` and collect its results."""
    chan.exec_command(command)
    if input:
        chan.sendall(input)
    chan.shutdown_write()
    deadline = None if timeout is None else time.monotonic() + timeout
    out: list[bytes] = []
    err: list[bytes] = []
    while True:
        got = False
        while chan.recv_ready():
            chunk = chan.recv(_CHUNK)
            got = True
            if stream is not None:
                stream(chunk)
            else:
                out.append(chunk)
        while chan.recv_stderr_ready():
            err.append(chan.recv_stderr(_CHUNK))
            got = True
        drained = not chan.recv_ready() and not chan.recv_stderr_ready()
        if chan.exit_status_ready() and drained and (chan.eof_received or chan.closed):
            break
        if got:
            continue
        wait = 1.0
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise CommandTimeout(command)
            wait = min(wait, 1.0)
        select.select([chan], [], [], wait)
        if chan.closed and not chan.recv_ready() and not chan.recv_stderr_ready():
            break
    if chan.exit_status == -1 and not chan.eof_received:
        # no exit status and no end of output: the connection itself went away
        raise ConnectionLost("the connection closed before the command ended", started=True)
    code = chan.recv_exit_status()
    return code, b"".join(out), b"".join(err)
