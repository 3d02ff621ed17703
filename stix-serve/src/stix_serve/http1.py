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
    upgrade: bytes | None = None  # the protocol asked for with Connection: upgrade

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
    if b"upgrade" in tokens:
        head.upgrade = head.get(b"upgrade")
    head.close = b"close" in tokens or (version == b"HTTP/1.0" and b"keep-alive" not in tokens)
    return head


def response_has_body(method: bytes, status: int) -> bool:
    return method != b"HEAD" and status >= 200 and status not in (204, 304)


def _chunk_size(line: bytes) -> int:
    """A chunk-size line's size: hex digits only (no sign, prefix or underscore, which
    ``int`` would accept and another parser might read differently)."""
    text = line.split(b";", 1)[0].strip()
    if not text or len(text) > 15 or text.strip(b"0123456789abcdefABCDEF"):
        raise BadMessage("malformed chunk size")
    return int(text, 16)


async def read_chunked_upto(reader: asyncio.StreamReader, limit: int) -> tuple[bytes, bool]:
    """Decode chunks until the body ends or passes ``limit`` bytes: (data, whole body)."""
    parts: list[bytes] = []
    total = 0
    while total <= limit:
        size = _chunk_size(await reader.readuntil(b"\r\n"))
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailers are dropped
            return b"".join(parts), True
        parts.append(await reader.readexactly(size))
        total += size
        if await reader.readexactly(2) != b"\r\n":
            raise BadMessage("malformed chunk")
    return b"".join(parts), False


async def pass_chunked(reader: asyncio.StreamReader, upstream: Upstream) -> None:
    """Forward the rest of a chunked request body, re-framed canonically as it goes."""
    while True:
        size = _chunk_size(await reader.readuntil(b"\r\n"))
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            upstream.write(b"0\r\n\r\n")
            return
        upstream.write(b"%x\r\n" % size)
        await pass_exact(reader, upstream, size)
        if await reader.readexactly(2) != b"\r\n":
            raise BadMessage("malformed chunk")
        upstream.write(b"\r\n")


async def pass_exact(reader: asyncio.StreamReader, upstream: Upstream, count: int) -> None:
    """Forward ``count`` request body bytes as they arrive, at the replica's pace."""
    while count > 0:
        data = await reader.read(min(count, COPY_SIZE))
        if not data:
            raise asyncio.IncompleteReadError(b"", count)
        upstream.write(data)
        count -= len(data)
        await upstream.drain()


class UpstreamBroke(Exception):
    """The replica's side ended or stalled before its response was complete.

    ``retryable`` is False once part of the client's request body was sent on: the
    request cannot be replayed to another replica.
    """

    def __init__(self, retryable: bool = True) -> None:
        super().__init__()
        self.retryable = retryable


class ClientGone(Exception):
    """The client went away before the response was complete."""


# Where a body ends -----------------------------------------------------------


class Exact:
    """A body of ``count`` bytes (``Content-Length``)."""

    def __init__(self, count: int) -> None:
        self.left = count

    def scan(self, data: bytes | bytearray, end: int) -> int:
        """The offset in ``data[:end]`` where the body ends, or -1 if it goes on."""
        if end >= self.left:
            stop, self.left = self.left, 0
            return stop
        self.left -= end
        return -1


class Chunked:
    """A chunked body, scanned (never decoded) to find its end, across reads."""

    def __init__(self) -> None:
        self.left = 0  # bytes of chunk data and its CRLF still to pass over
        self.line = b""  # a chunk-size or trailer line split across reads
        self.trailers = False

    def scan(self, data: bytes | bytearray, end: int) -> int:
        pos = 0
        while pos < end:
            if self.left:
                step = min(self.left, end - pos)
                pos += step
                self.left -= step
                continue
            newline = data.find(b"\n", pos, end)
            if newline < 0:
                self.line += data[pos:end]
                if len(self.line) > 4096:
                    raise BadMessage("chunk line too long")
                return -1
            line, self.line = self.line + data[pos : newline + 1], b""
            pos = newline + 1
            if self.trailers:
                if line.strip() == b"":
                    return pos
                continue
            size = _chunk_size(line)
            if size == 0:
                self.trailers = True
            else:
                self.left = size + 2
        return -1


class ToEnd:
    """A body that ends with the connection."""

    def scan(self, data: bytes | bytearray, end: int) -> int:
        return -1


Framing = Exact | Chunked | ToEnd


# The replica side of an exchange -------------------------------------------


READ_SIZE = 256 * 1024


class Upstream(asyncio.BufferedProtocol):
    """One connection to a replica, read into one reused buffer with no stream in between.

    While a response head is awaited, bytes collect in ``buffer``; once a :class:`Relay`
    is attached, each read goes straight to the client as it arrives. (Reusing the read
    buffer spares a fresh large allocation, and its page faults, per read.)
    """

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.inbox = bytearray(READ_SIZE)
        self.buffer = bytearray()
        self.relay: Relay | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.ended = False
        self.reused = False
        self.last = self.loop.time()  # of the last read: what the watchdog looks at
        self.write_paused = False
        self.drained: asyncio.Future[None] | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> bytearray:
        return self.inbox

    def buffer_updated(self, nbytes: int) -> None:
        self.last = self.loop.time()
        if self.relay is not None:
            self.relay.feed(self.inbox, nbytes)
            return
        self.buffer += memoryview(self.inbox)[:nbytes]
        self._wake()

    def eof_received(self) -> bool:
        self._end()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()
        self.write_paused = False
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def _end(self) -> None:
        self.ended = True
        if self.relay is not None:
            self.relay.upstream_ended()
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    # used by the load balancer
    def usable(self) -> bool:
        return (
            not self.ended
            and self.transport is not None
            and not self.transport.is_closing()
            and not self.buffer
        )

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    async def drain(self) -> None:
        if self.write_paused and not self.ended:
            self.drained = self.loop.create_future()
            await self.drained
        if self.ended:
            raise UpstreamBroke(retryable=False)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    async def read_head(self) -> bytes:
        """The next message head (through its blank line)."""
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(self.buffer[: end + 4])
                del self.buffer[: end + 4]
                return head.lstrip(b"\r\n")
            if self.ended or len(self.buffer) > MAX_HEAD:
                raise UpstreamBroke()
            self.waiter = self.loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None


class Relay:
    """Passes a response body from an :class:`Upstream` to the client as each read arrives.

    Runs inside the replica connection's ``data_received``: no task wakes up per read. The
    client's write buffer is bounded: past ``HIGH_WATER`` the replica is not read until
    the client has taken its bytes.
    """

    HIGH_WATER = 1024 * 1024

    def __init__(
        self, upstream: Upstream, client: asyncio.StreamWriter, framing: Framing, prefix: bytes
    ) -> None:
        self.upstream, self.client, self.framing = upstream, client, framing
        self.prefix = prefix
        self.done: asyncio.Future[bool] = upstream.loop.create_future()
        self.overrun = False
        self.resumer: asyncio.Future[None] | None = None

    def start(self) -> asyncio.Future[bool]:
        """Begin with what the replica already sent; the future says if it can be reused."""
        pending = bytes(self.upstream.buffer)
        self.upstream.buffer.clear()
        self.upstream.relay = self
        self.feed(pending, len(pending))
        if self.upstream.ended and not self.done.done():
            self.upstream_ended()
        return self.done

    def feed(self, data: bytes | bytearray, size: int) -> None:
        """Pass on ``data[:size]`` (``data`` may be the connection's reused read buffer)."""
        if self.done.done():
            self.overrun = True  # bytes past the end: the connection is not reused
            return
        try:
            end = self.framing.scan(data, size)
        except BadMessage:
            self._fail(UpstreamBroke(retryable=False))
            return
        stop = size if end < 0 else end
        out: bytes | memoryview = memoryview(data)[:stop]
        if self.prefix:
            out, self.prefix = self.prefix + out, b""
        transport = self.client.transport
        if out:
            if transport.is_closing():
                self._fail(ClientGone())
                return
            transport.write(out)
            if transport.get_write_buffer_size() and data is self.upstream.inbox:
                # the transport may still hold a view of the read buffer: read into a new one
                self.upstream.inbox = bytearray(READ_SIZE)
        if end >= 0:
            self.upstream.relay = None
            self.done.set_result(end == size)
        elif transport.get_write_buffer_size() > self.HIGH_WATER:
            assert self.upstream.transport is not None
            self.upstream.transport.pause_reading()
            self.resumer = asyncio.ensure_future(self._resume())

    async def _resume(self) -> None:
        try:
            await self.client.drain()
        except (ConnectionError, RuntimeError):
            self._fail(ClientGone())
            return
        if not self.done.done() and self.upstream.transport is not None:
            self.upstream.transport.resume_reading()

    def upstream_ended(self) -> None:
        if self.done.done():
            return
        if isinstance(self.framing, ToEnd):
            if self.prefix:
                self.client.transport.write(self.prefix)
                self.prefix = b""
            self.upstream.relay = None
            self.done.set_result(False)
        else:
            self._fail(UpstreamBroke(retryable=False))

    def _fail(self, exc: Exception) -> None:
        self.upstream.relay = None
        if not self.done.done():
            self.done.set_exception(exc)


class Watchdog:
    """Aborts a replica connection that makes no progress for ``timeout`` seconds.

    Cheaper than a timeout per read: reads only record their time on the connection.
    """

    def __init__(self, upstream: Upstream, timeout: float) -> None:
        self.upstream, self.timeout = upstream, timeout
        upstream.last = upstream.loop.time()
        self.handle = upstream.loop.call_later(timeout, self._check)

    def _check(self) -> None:
        idle = self.upstream.loop.time() - self.upstream.last
        if idle >= self.timeout:
            self.upstream.close()
        else:
            self.handle = self.upstream.loop.call_later(self.timeout - idle, self._check)

    def cancel(self) -> None:
        self.handle.cancel()


async def flush(writer: asyncio.StreamWriter) -> None:
    try:
        await writer.drain()
    except (ConnectionError, RuntimeError) as exc:
        raise ClientGone() from exc
