"""The HTTP/1.1 framing the load balancer needs (RFC 9112): message heads, body lengths,
and copying a body from one stream to another without re-encoding it.

Strict where ambiguity could let one request hide inside another: a request with both
``Content-Length`` and ``Transfer-Encoding``, conflicting lengths, a transfer coding other
than ``chunked``, or folded header lines is refused.
"""

from __future__ import annotations

import asyncio

import attrs

MAX_HEAD = 64 * 1024
COPY_SIZE = 1024 * 1024
# Headers about one connection, never forwarded (RFC 9110 7.6.1), plus the ones the
# proxy sets itself.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"upgrade",
    }
)


class BadMessage(Exception):
    """A message the proxy will not forward; ``status`` is what the client gets."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@attrs.define
class Head:
    """A parsed request or response head; header names are kept as sent."""

    first: list[bytes]  # request: method, target, version; response: version, status, reason
    headers: list[tuple[bytes, bytes]]
    length: int | None = None  # Content-Length, when given
    chunked: bool = False
    close: bool = False  # the sender ends the connection after this message

    def get(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


async def read_head(reader: asyncio.StreamReader) -> bytes | None:
    """The bytes of one message head (through the blank line); None at a clean end."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise BadMessage("incomplete message head") from None
    except asyncio.LimitOverrunError:
        raise BadMessage("message head too large", 431) from None
    return head.lstrip(b"\r\n")  # a stray CRLF before a request is allowed


def parse_head(data: bytes, *, request: bool) -> Head:
    lines = data[:-4].split(b"\r\n")
    first = lines[0].split(b" ", 2)
    if len(first) < (3 if request else 2):
        raise BadMessage("malformed start line")
    version = first[2] if request else first[0]
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise BadMessage("unsupported HTTP version", 505)
    headers = []
    lengths: set[bytes] = set()
    codings: list[bytes] = []
    tokens: set[bytes] = set()
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip() or line[:1] in (b" ", b"\t"):
            raise BadMessage("malformed header line")
        value = value.strip()
        key = name.lower()
        if key == b"content-length":
            lengths.update(v.strip() for v in value.split(b","))
        elif key == b"transfer-encoding":
            codings += [c.strip().lower() for c in value.split(b",") if c.strip()]
        elif key == b"connection":
            tokens.update(t.strip().lower() for t in value.split(b","))
        headers.append((name, value))
    head = Head(first=first, headers=headers)
    if codings:
        if lengths and request:
            raise BadMessage("both Content-Length and Transfer-Encoding")
        if codings[-1] != b"chunked":
            raise BadMessage("unsupported transfer coding", 501)
        head.chunked = True
    elif lengths:
        if len(lengths) != 1 or not next(iter(lengths)).isdigit():
            raise BadMessage("invalid Content-Length")
        head.length = int(next(iter(lengths)))
    head.close = b"close" in tokens or (version == b"HTTP/1.0" and b"keep-alive" not in tokens)
    return head


def response_has_body(method: bytes, status: int) -> bool:
    return method != b"HEAD" and status >= 200 and status not in (204, 304)


async def read_chunked(reader: asyncio.StreamReader, limit: int) -> bytes:
    """Decode a chunked body (trailers dropped); refuse one larger than ``limit``."""
    parts: list[bytes] = []
    total = 0
    while True:
        size = _chunk_size(await reader.readuntil(b"\r\n"))
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return b"".join(parts)
        total += size
        if total > limit:
            raise BadMessage("request body too large", 413)
        parts.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise BadMessage("malformed chunk")


def _chunk_size(line: bytes) -> int:
    text = line.split(b";", 1)[0].strip()
    try:
        return int(text, 16)
    except ValueError:
        raise BadMessage("malformed chunk size") from None


class UpstreamBroke(Exception):
    """The replica's side ended or stalled before its response was complete."""


class ClientGone(Exception):
    """The client went away before the response was complete."""


async def _send(writer: asyncio.StreamWriter, data: bytes) -> None:
    try:
        writer.write(data)
        if writer.transport.get_write_buffer_size() > COPY_SIZE:
            await writer.drain()
    except (ConnectionError, RuntimeError) as exc:
        raise ClientGone() from exc
    if writer.transport.is_closing():
        raise ClientGone()


class Watchdog:
    """Aborts a replica connection that makes no progress for ``timeout`` seconds.

    Cheaper than a timeout per read: a body copy only records the time of each read.
    """

    def __init__(self, transport: asyncio.WriteTransport, timeout: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport, self.timeout = transport, timeout
        self.last = self.loop.time()
        self.handle = self.loop.call_later(timeout, self._check)

    def poke(self) -> None:
        self.last = self.loop.time()

    def _check(self) -> None:
        idle = self.loop.time() - self.last
        if idle >= self.timeout:
            self.transport.abort()
        else:
            self.handle = self.loop.call_later(self.timeout - idle, self._check)

    def cancel(self) -> None:
        self.handle.cancel()


async def _read(reader: asyncio.StreamReader, size: int, dog: Watchdog) -> bytes:
    try:
        data = await reader.read(size)
    except OSError as exc:
        raise UpstreamBroke() from exc
    if not data:
        raise UpstreamBroke()
    dog.poke()
    return data


async def copy_exactly(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    count: int,
    dog: Watchdog,
    prefix: bytes = b"",
) -> None:
    """Forward ``count`` body bytes as they arrive (``prefix``, the head, goes with the first)."""
    while count > 0:
        data = await _read(reader, min(count, COPY_SIZE), dog)
        count -= len(data)
        await _send(writer, prefix + data if prefix else data)
        prefix = b""
    if prefix:
        await _send(writer, prefix)


async def copy_chunked(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, dog: Watchdog, prefix: bytes = b""
) -> bool:
    """Forward a chunked body as it was sent, each read passed on at once in one write.

    The framing is only scanned (to find where the body ends), never rebuilt. Returns
    False when the replica sent bytes past the end (its connection must not be reused).
    """
    left = 0  # bytes of chunk data and its CRLF still to pass through
    line = b""  # a chunk-size or trailer line, possibly split across reads
    trailers = False
    while True:
        data = await _read(reader, COPY_SIZE, dog)
        pos, end = 0, len(data)
        while pos < end:
            if left:
                step = min(left, end - pos)
                pos += step
                left -= step
                continue
            newline = data.find(b"\n", pos)
            if newline < 0:
                line += data[pos:]
                if len(line) > 4096:
                    raise UpstreamBroke()
                break
            line += data[pos : newline + 1]
            pos = newline + 1
            if trailers:
                if line.strip() == b"":
                    await _send(writer, prefix + data[:pos])
                    return pos == end
                line = b""
                continue
            try:
                size = _chunk_size(line)
            except BadMessage as exc:
                raise UpstreamBroke() from exc
            line = b""
            if size == 0:
                trailers = True
            else:
                left = size + 2
        await _send(writer, prefix + data if prefix else data)
        prefix = b""


async def copy_to_end(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, dog: Watchdog
) -> None:
    """Forward a body delimited by the end of the connection."""
    while True:
        try:
            data = await reader.read(COPY_SIZE)
        except OSError as exc:
            raise UpstreamBroke() from exc
        if not data:
            return
        dog.poke()
        await _send(writer, data)


async def flush(writer: asyncio.StreamWriter) -> None:
    try:
        await writer.drain()
    except (ConnectionError, RuntimeError) as exc:
        raise ClientGone() from exc
