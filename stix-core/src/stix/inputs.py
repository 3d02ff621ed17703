"""Read the files a user hands to STIX (task, config, env and secret files) within bounds.

A file must be a regular file of at most ``STIX_MAX_INPUT_BYTES`` (16 MiB unless set),
holding UTF-8 text without NUL bytes. FIFOs, devices and sockets are refused without
being opened for a blocking read. YAML alias bounds live with the YAML reader
(``stix.task.yamlio``); numeric ranges with the field parsers.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
MAX_BYTES_ENV = "STIX_MAX_INPUT_BYTES"
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


class InputRefused(Exception):
    """A file cannot be used as input; ``reason`` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def max_input_bytes() -> int:
    """The size cap for input files: ``$STIX_MAX_INPUT_BYTES`` (``16M``, ``1048576``...)."""
    raw = os.environ.get(MAX_BYTES_ENV, "").strip().lower()
    if not raw:
        return DEFAULT_MAX_BYTES
    match = re.fullmatch(r"([0-9]{1,15})\s*([kmg]?)i?b?", raw)
    if not match or int(match.group(1)) == 0:
        from stix.errors import ConfigError

        raise ConfigError(
            f"{MAX_BYTES_ENV}={raw!r}: expected a positive size such as 16M or 1048576"
        )
    return int(match.group(1)) * _UNITS[match.group(2)]


def _size_text(size: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}".replace(".0 ", " ")
    return f"{size} bytes"


def read_bytes(path: str | os.PathLike[str], limit: int | None = None) -> bytes:
    """The content of a regular file of at most ``limit`` bytes.

    :raises InputRefused: missing, a directory, not a regular file, unreadable or too large.
    """
    limit = max_input_bytes() if limit is None else limit
    where = Path(path).expanduser()
    try:
        info = os.stat(where)
    except FileNotFoundError:
        raise InputRefused("file not found") from None
    except OSError as exc:
        raise InputRefused(f"cannot read the file: {exc.strerror or exc}") from None
    _check_kind(info.st_mode)
    too_big = InputRefused(
        f"the file is larger than {_size_text(limit)} (raise {MAX_BYTES_ENV} to read it)"
    )
    if info.st_size > limit:
        raise too_big
    try:
        # O_NONBLOCK: a FIFO swapped in after the stat must not block the open
        fd = os.open(where, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputRefused(f"cannot read the file: {exc.strerror or exc}") from None
    try:
        _check_kind(os.fstat(fd).st_mode)
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise InputRefused(f"cannot read the file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if total > limit:
        raise too_big
    return b"".join(chunks)


def _check_kind(mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise InputRefused("is a directory, not a file")
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a device or socket"
        raise InputRefused(f"is {kind}, not a regular file")


def decode_text(data: bytes) -> str:
    """``data`` as UTF-8 text without NUL bytes, else ``InputRefused``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputRefused(
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None
    if "\x00" in text:
        raise InputRefused(f"is not a text file (NUL byte at offset {text.index(chr(0))})")
    return text


def read_text(path: str | os.PathLike[str], limit: int | None = None) -> str:
    """``read_bytes`` then ``decode_text``: the bounded UTF-8 content of a file."""
    return decode_text(read_bytes(path, limit))


__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_BYTES_ENV",
    "InputRefused",
    "decode_text",
    "max_input_bytes",
    "read_bytes",
    "read_text",
]
