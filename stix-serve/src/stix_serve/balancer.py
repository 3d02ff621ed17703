"""The load balancer: a streaming HTTP/1.1 reverse proxy in front of a service's replicas.

Only replicas the replica manager marked ready receive traffic. Bodies stream through
chunk by chunk (server-sent events and chunked responses are never buffered whole). A
request whose replica fails before answering is retried on another replica; once the
response has started, a broken replica ends the client's stream with an error instead.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import ssl
import time
from collections.abc import Callable, Coroutine
from typing import Any

import attrs

from stix_serve import http1
from stix_serve.autoscaler import RequestRate
from stix_serve.http1 import BadMessage, ClientGone, Head, Upstream, UpstreamBroke

log = logging.getLogger("stix_serve.lb")

MAX_ATTEMPTS = 3
MAX_BODY = 1024**3
# Request bodies up to this size are read before forwarding, so that a request can be
# retried on another replica; larger ones stream through.
BUFFERED_BODY = 1024 * 1024
IDLE_PER_REPLICA = 64
CONNECT_TIMEOUT = 10.0
# Headers of the client's request the proxy sets itself.
SET_BY_PROXY = frozenset({b"host", b"content-length", b"transfer-encoding", b"expect"})
# How much of a request body is still unread: ("exact", bytes) or ("chunked", 0).
Rest = tuple[str, int] | None
REASONS = {
    400: "Bad Request",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}


@attrs.define
class Exchange:
    """One client request being proxied."""

    head: Head
    body: bytes  # the body read so far (all of it unless ``rest``)
    writer: asyncio.StreamWriter
    client_ip: bytes
    reader: asyncio.StreamReader | None = None
    rest: Rest = None  # how much of the body is still unread in ``reader``


class RoundRobin:
    """Replicas in a shuffled order, taken in turn."""

    name = "round_robin"

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.cursor = 0

    def set_urls(self, urls: list[str]) -> None:
        if set(urls) != set(self.urls):
            self.urls = random.sample(urls, len(urls))
            self.cursor = 0

    def select(self, inflight: dict[str, int], exclude: set[str]) -> str | None:
        for _ in range(len(self.urls)):
            url = self.urls[self.cursor % len(self.urls)]
            self.cursor += 1
            if url not in exclude:
                return url
        return None


class LeastLoad(RoundRobin):
    """The replica with the fewest requests in flight; ties go round the list."""

    name = "least_load"

    def select(self, inflight: dict[str, int], exclude: set[str]) -> str | None:
        best, best_load = None, None
        count = len(self.urls)
        for step in range(count):
            url = self.urls[(self.cursor + step) % count]
            if url in exclude:
                continue
            load = inflight.get(url, 0)
            if best_load is None or load < best_load:
                best, best_load = url, load
                if load == 0:
                    break
        self.cursor += 1
        return best


POLICIES: dict[str, Callable[[], RoundRobin]] = {"round_robin": RoundRobin, "least_load": LeastLoad}


def make_policy(name: str | None) -> RoundRobin:
    """The policy object for a ``load_balancing_policy`` value (default ``least_load``)."""
    # instance_aware_least_load weighs replicas by GPU type; with no per-type capacity
    # known here it behaves as least_load.
    return POLICIES.get(name or "least_load", LeastLoad)()


def ssl_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    """Server-side TLS context for the endpoint."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context


class LoadBalancer:
    """One service's endpoint. The replica manager calls :meth:`set_ready` as replicas change.

    A relay at the HTTP/1.1 framing level: heads are parsed and rewritten, bodies are
    copied as they arrive, chunked ones frame by frame as sent, never re-encoded.
    """

    def __init__(
        self,
        policy: str | None = None,
        *,
        stream_timeout: float = 120.0,
        rate: RequestRate | None = None,
        access_log: logging.Logger | None = None,
    ) -> None:
        self.policy = make_policy(policy)
        self.inflight: dict[str, int] = {}
        self.rate = rate or RequestRate()
        self.stream_timeout = stream_timeout
        self.access_log = access_log
        self.server: asyncio.AbstractServer | None = None
        self.idle: dict[str, list[Upstream]] = {}
        self.clients: set[asyncio.StreamWriter] = set()
        self.addresses: dict[str, tuple[str, int, bytes]] = {}

    # routing state ---------------------------------------------------------

    def set_ready(self, urls: list[str]) -> None:
        """Replace the set of replicas that may receive new requests."""
        self.policy.set_urls(sorted(urls))
        for url in list(self.idle):
            if url not in urls:
                for conn in self.idle.pop(url):
                    conn.close()

    @property
    def ready_urls(self) -> list[str]:
        return list(self.policy.urls)

    def in_flight(self, url: str) -> int:
        return self.inflight.get(url, 0)

    # server ----------------------------------------------------------------

    async def start(self, host: str, port: int, context: ssl.SSLContext | None = None) -> None:
        self.server = await asyncio.start_server(
            self._serve_client, host, port, ssl=context, reuse_address=True, limit=http1.MAX_HEAD
        )

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in list(self.clients):
                writer.transport.abort()
            await self.server.wait_closed()
            self.server = None
        for conns in self.idle.values():
            for conn in conns:
                conn.close()
        self.idle.clear()

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.clients.add(writer)
        peer = writer.get_extra_info("peername")
        client_ip = (peer[0] if peer else "").encode()
        try:
            while True:
                data = await http1.read_head(reader)
                if data is None:
                    break
                head = http1.parse_head(data, request=True)
                if head.length is not None and head.length > MAX_BODY:
                    raise BadMessage("request body too large", 413)
                if (head.get(b"expect") or b"").lower() == b"100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                # A body up to BUFFERED_BODY is read first, so the request can be tried
                # again on another replica; a larger one streams through as it comes.
                rest: Rest = None
                if head.chunked:
                    body, whole = await http1.read_chunked_upto(reader, BUFFERED_BODY)
                    if not whole:
                        rest = ("chunked", 0)
                elif head.length and head.length > BUFFERED_BODY:
                    body = await reader.readexactly(BUFFERED_BODY)
                    rest = ("exact", head.length - BUFFERED_BODY)
                elif head.length:
                    body = await reader.readexactly(head.length)
                else:
                    body = b""
                self.rate.add(time.time())
                keep = await self.handle(Exchange(head, body, writer, client_ip, reader, rest))
                if not keep or head.close:
                    break
        except BadMessage as exc:
            self._reply(writer, exc.status, str(exc), close=True)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self.clients.discard(writer)
            try:
                await writer.drain()
            except ConnectionError:
                pass
            writer.close()

    def _reply(
        self, writer: asyncio.StreamWriter, status: int, text: str, close: bool = False
    ) -> None:
        body = f"stix serve: {text}\n".encode()
        head = (
            f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
            + ("Connection: close\r\n" if close else "")
            + "\r\n"
        )
        writer.write(head.encode() + body)

    async def handle(self, ex: Exchange) -> bool:
        """Proxy one request; False when the client connection must end.

        A request with ``ex.rest`` (body still unread, streamed to the replica after
        ``ex.body``) is retried only while none of it has been sent.
        """
        head, writer, rest = ex.head, ex.writer, ex.rest
        started = time.monotonic()
        tried: set[str] = set()
        error = "no ready replica"
        for _ in range(MAX_ATTEMPTS):
            url = self.policy.select(self.inflight, tried)
            if url is None:
                break
            tried.add(url)
            self.inflight[url] = self.inflight.get(url, 0) + 1
            try:
                status, keep = await self._forward(url, ex)
            except UpstreamBroke as exc:
                error = f"replica {url} did not answer"
                if not exc.retryable:
                    self._reply(writer, 502, error, close=True)
                    self._log(head, 502, url, started)
                    return False
                log.info("retrying %s elsewhere: %s", head.first[1][:200], error)
                continue
            except ClientGone:
                self._log(head, 499, url, started)
                return False
            finally:
                self.inflight[url] -= 1
            self._log(head, status, url, started)
            return keep
        status = 503 if not tried else 502
        self._reply(writer, status, error, close=rest is not None)
        self._log(head, status, None, started)
        return rest is None

    def _address(self, url: str) -> tuple[str, int, bytes]:
        found = self.addresses.get(url)
        if found is None:
            hostport = url.split("://", 1)[1].rstrip("/")
            host, _, port = hostport.rpartition(":")
            found = self.addresses[url] = (host, int(port), hostport.encode())
        return found

    async def _connection(self, url: str) -> Upstream:
        pool = self.idle.get(url)
        while pool:
            conn = pool.pop()
            if conn.usable():
                conn.reused = True
                return conn
            conn.close()
        host, port, _ = self._address(url)
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(Upstream, host, port), CONNECT_TIMEOUT
            )
        except (OSError, asyncio.TimeoutError) as exc:
            raise UpstreamBroke() from exc
        return conn

    def _request_bytes(
        self, url: str, head: Head, body: bytes, client_ip: bytes, rest: Rest
    ) -> bytes:
        method, target = head.first[0], head.first[1]
        lines = [method + b" " + target + b" HTTP/1.1", b"Host: " + self._address(url)[2]]
        for name, value in head.headers:
            key = name.lower()
            if key in http1.HOP_BY_HOP or key in SET_BY_PROXY:
                continue
            lines.append(name + b": " + value)
        lines.append(b"X-Forwarded-For: " + client_ip)
        if head.upgrade is not None:
            lines += [b"Connection: Upgrade", b"Upgrade: " + head.upgrade]
        if rest is not None and rest[0] == "chunked":
            lines.append(b"Transfer-Encoding: chunked")
            body = b"%x\r\n%s\r\n" % (len(body), body) if body else b""
        elif rest is not None:
            lines.append(b"Content-Length: %d" % (len(body) + rest[1]))
        elif body or method in (b"POST", b"PUT", b"PATCH"):
            lines.append(b"Content-Length: %d" % len(body))
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    async def _send_request(
        self, url: str, request: bytes, reader: asyncio.StreamReader | None, rest: Rest
    ) -> tuple[Upstream, http1.Watchdog, Head]:
        """Send the request and read the response head, on a kept connection if one is
        free (one the replica closed meanwhile is replaced once)."""
        for fresh_try in (False, True):
            conn = await self._connection(url)
            # one timer guards the whole exchange (cheaper than a timeout per read)
            dog = http1.Watchdog(conn, self.stream_timeout)
            try:
                conn.write(request)
                if rest is not None:
                    assert reader is not None
                    await self._stream_body(reader, conn, rest)
                return conn, dog, await self._response_head(conn)
            except (OSError, UpstreamBroke, BadMessage) as exc:
                dog.cancel()
                conn.close()
                sent = rest is not None and not (isinstance(exc, UpstreamBroke) and exc.retryable)
                if sent:
                    if isinstance(exc, BadMessage):
                        raise  # the client's own body was malformed
                    raise UpstreamBroke(retryable=False) from exc
                if conn.reused and not fresh_try:
                    continue
                raise UpstreamBroke() from exc
        raise AssertionError("unreachable")

    async def _stream_body(self, reader: asyncio.StreamReader, conn: Upstream, rest: Rest) -> None:
        assert rest is not None
        try:
            if rest[0] == "chunked":
                await http1.pass_chunked(reader, conn)
            else:
                await http1.pass_exact(reader, conn, rest[1])
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            conn.close()
            raise ClientGone() from exc

    async def _forward(self, url: str, ex: Exchange) -> tuple[int, bool]:
        """Send the request to ``url`` and relay the answer: (status, keep client open).

        :raises UpstreamBroke: the replica failed before the first byte reached the client.
        :raises ClientGone: the client left.
        """
        head, writer, reader, rest = ex.head, ex.writer, ex.reader, ex.rest
        request = self._request_bytes(url, head, ex.body, ex.client_ip, rest)
        conn, dog, response = await self._send_request(url, request, reader, rest)
        status = int(response.first[1])
        if status == 101 and head.upgrade is not None and reader is not None:
            dog.cancel()
            await self._tunnel(conn, response, reader, writer)
            return status, False
        has_body = http1.response_has_body(head.first[0], status)
        to_end = has_body and not response.chunked and response.length is None
        keep_client = not head.close and not to_end
        out = [b"HTTP/1.1 " + b" ".join(response.first[1:])]
        for name, value in response.headers:
            if name.lower() not in http1.HOP_BY_HOP:
                out.append(name + b": " + value)
        if not keep_client:
            out.append(b"Connection: close")
        head_bytes = b"\r\n".join(out) + b"\r\n\r\n"
        framing: http1.Framing
        if not has_body:
            framing = http1.Exact(0)
        elif response.chunked:
            framing = http1.Chunked()
        elif response.length is not None:
            framing = http1.Exact(response.length)
        else:
            framing = http1.ToEnd()
        # The head goes out with the body bytes already read (one write for a small
        # answer); the rest is passed on from the replica connection's own reads. Once
        # the head is out the client has the status line: a failure cannot be retried.
        try:
            reusable = await http1.Relay(conn, writer, framing, head_bytes).start()
            if writer.transport.get_write_buffer_size():
                await http1.flush(writer)
        except UpstreamBroke:
            log.info("stream from %s broke", url)
            conn.close()
            writer.transport.abort()  # the client sees a cut stream, not a short success
            raise ClientGone() from None
        except ClientGone:
            conn.close()
            raise
        finally:
            dog.cancel()
        if response.close or to_end or not reusable or not conn.usable():
            conn.close()
        else:
            pool = self.idle.setdefault(url, [])
            if len(pool) < IDLE_PER_REPLICA:
                pool.append(conn)
            else:
                conn.close()
        return status, keep_client

    async def _tunnel(
        self,
        conn: Upstream,
        response: Head,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """After ``101 Switching Protocols`` (WebSocket): bytes both ways until one side ends."""
        out = [b"HTTP/1.1 " + b" ".join(response.first[1:])]
        out += [name + b": " + value for name, value in response.headers]
        relay = http1.Relay(conn, writer, http1.ToEnd(), b"\r\n".join(out) + b"\r\n\r\n")
        downstream = relay.start()

        async def upstream_pump() -> None:
            while not conn.ended:
                data = await reader.read(http1.COPY_SIZE)
                if not data:
                    return
                conn.write(data)
                await conn.drain()

        pump = asyncio.ensure_future(upstream_pump())
        try:
            either: set[asyncio.Future[Any]] = {downstream, pump}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            pump.cancel()
            conn.close()
            if not downstream.done():
                downstream.cancel()
            elif not downstream.cancelled():
                downstream.exception()  # retrieved: a broken tunnel just ends
            await asyncio.gather(pump, return_exceptions=True)
            try:
                await http1.flush(writer)
            except ClientGone:
                pass

    async def _response_head(self, conn: Upstream) -> Head:
        while True:
            response = http1.parse_head(await conn.read_head(), request=False)
            status = response.first[1]
            if not status.startswith(b"1") or status == b"101":
                return response  # informational answers (100 Continue) are skipped

    def _log(self, head: Head, status: int, url: str | None, started: float) -> None:
        if self.access_log is not None:
            took = (time.monotonic() - started) * 1000
            self.access_log.info(
                "%s %s %s -> %s %.1fms",
                head.first[0].decode(errors="replace"),
                head.first[1][:200].decode(errors="replace"),
                status,
                url,
                took,
            )


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run the controller's (or a benchmark's) event loop: uvloop where it is installed,
    which halves the proxy's own CPU per small request; ``STIX_SERVE_EVENT_LOOP=asyncio``
    keeps the standard loop."""
    if os.environ.get("STIX_SERVE_EVENT_LOOP") != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(main)
            return
    asyncio.run(main)


def _main(argv: list[str] | None = None) -> None:
    """``python -m stix_serve.balancer PORT URL...``: a fixed-replica proxy (benchmarks)."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    port, urls = int(args[0]), args[1:]

    async def run() -> None:
        lb = LoadBalancer("least_load")
        lb.set_ready(urls)
        await lb.start("127.0.0.1", port)
        await asyncio.Event().wait()

    import os

    if os.environ.get("LB_UVLOOP"):
        import uvloop

        uvloop.run(run())
    else:
        asyncio.run(run())


if __name__ == "__main__":
    _main()
