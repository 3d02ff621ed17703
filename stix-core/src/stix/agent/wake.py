"""A named pipe that wakes the daemon at once (after a submit, a cancel or a job end)."""

from __future__ import annotations

import errno
import os

FIFO = "wake.fifo"


def path(home: str) -> str:
    """Location of the wake pipe under the agent home."""
    return os.path.join(home, FIFO)


def open_reader(home: str) -> int:
    """Create the pipe if needed and open it for the daemon (never blocks, never sees EOF)."""
    fifo = path(home)
    try:
        os.mkfifo(fifo, 0o600)
    except FileExistsError:
        pass
    return os.open(fifo, os.O_RDWR | os.O_NONBLOCK)


def poke(home: str) -> None:
    """Wake the daemon if it is listening; silently do nothing otherwise."""
    try:
        fd = os.open(path(home), os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return
    try:
        os.write(fd, b"x")
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EPIPE):
            raise
    finally:
        os.close(fd)


def drain(fd: int) -> None:
    """Empty the pipe after a wake-up."""
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass
