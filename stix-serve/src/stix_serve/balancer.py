"""The load balancer: a streaming HTTP/1.1 reverse proxy in front of a service's replicas.

Only replicas the replica manager marked ready receive traffic. Bodies stream through
chunk by chunk (server-sent events and chunked responses are never buffered whole). A
request whose replica fails before answering is retried on another replica; once the
response has started, a broken replica ends the client's stream with an error instead.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Callable

from stix_serve import http1
from stix_serve.autoscaler import RequestRate
from stix_serve.http1 import BadMessage, ClientGone, Head, UpstreamBroke

log = logging.getLogger("stix_serve.lb")

MAX_ATTEMPTS = 3
MAX_BODY = 1024**3
IDLE_PER_REPLICA = 64
# Read replicas in large pieces: fewer system calls per streamed megabyte.
UPSTREAM_BUFFER = 1024 * 1024
REASONS = {
    400: "Bad Request",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}


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


class Connection:
    """One open connection to a replica (kept for reuse between requests)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.reused = False

    def usable(self) -> bool:
        return not self.writer.transport.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        self.writer.transport.abort()


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
        self.idle: dict[str, list[Connection]] = {}
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
                if (head.get(b"expect") or b"").lower() == b"100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                if head.chunked:
                    body = await http1.read_chunked(reader, MAX_BODY)
                elif head.length:
                    if head.length > MAX_BODY:
                        raise BadMessage("request body too large", 413)
                    body = await reader.readexactly(head.length)
                else:
                    body = b""
                self.rate.add(time.time())
                if not await self.handle(head, body, writer, client_ip) or head.close:
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

    async def handle(
        self, head: Head, body: bytes, writer: asyncio.StreamWriter, client_ip: bytes
    ) -> bool:
        """Proxy one request; False when the client connection must end."""
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
                status, keep = await self._forward(url, head, body, writer, client_ip)
            except UpstreamBroke:
                error = f"replica {url} did not answer"
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
        self._reply(writer, status, error)
        self._log(head, status, None, started)
        return True

    def _address(self, url: str) -> tuple[str, int, bytes]:
        found = self.addresses.get(url)
        if found is None:
            hostport = url.split("://", 1)[1].rstrip("/")
            host, _, port = hostport.rpartition(":")
            found = self.addresses[url] = (host, int(port), hostport.encode())
        return found

    async def _connection(self, url: str) -> Connection:
        pool = self.idle.get(url)
        while pool:
            conn = pool.pop()
            if conn.usable():
                conn.reused = True
                return conn
            conn.close()
        host, port, _ = self._address(url)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, limit=UPSTREAM_BUFFER), 10
            )
        except (OSError, asyncio.TimeoutError) as exc:
            raise UpstreamBroke() from exc
        return Connection(reader, writer)

    def _request_bytes(self, url: str, head: Head, body: bytes, client_ip: bytes) -> bytes:
        method, target = head.first[0], head.first[1]
        lines = [method + b" " + target + b" HTTP/1.1", b"Host: " + self._address(url)[2]]
        for name, value in head.headers:
            key = name.lower()
            if key in http1.HOP_BY_HOP or key in (
                b"host",
                b"content-length",
                b"transfer-encoding",
                b"expect",
            ):
                continue
            lines.append(name + b": " + value)
        lines.append(b"X-Forwarded-For: " + client_ip)
        if body or method in (b"POST", b"PUT", b"PATCH"):
            lines.append(b"Content-Length: " + str(len(body)).encode())
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    async def _forward(
        self, url: str, head: Head, body: bytes, writer: asyncio.StreamWriter, client_ip: bytes
    ) -> tuple[int, bool]:
        """Send the request to ``url`` and relay the answer: (status, keep client open).

        :raises UpstreamBroke: the replica failed before the first byte reached the client.
        :raises ClientGone: the client left.
        """
        request = self._request_bytes(url, head, body, client_ip)
        for fresh_try in (False, True):
            conn = await self._connection(url)
            # one timer guards the whole exchange (cheaper than a timeout per read)
            dog = http1.Watchdog(conn.writer.transport, self.stream_timeout)
            try:
                conn.writer.write(request)
                response = await self._response_head(conn)
                break
            except (OSError, asyncio.IncompleteReadError, UpstreamBroke, BadMessage) as exc:
                dog.cancel()
                conn.close()
                if conn.reused and not fresh_try:
                    continue  # a kept connection the replica had closed: try a new one
                raise UpstreamBroke() from exc
        status = int(response.first[1])
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
        # The head goes out with the first body bytes (one write for a small answer). Once
        # it is out the client has the status line: a failure can no longer be retried.
        reusable = True
        try:
            if has_body and response.chunked:
                reusable = await http1.copy_chunked(conn.reader, writer, dog, head_bytes)
            elif has_body and response.length is not None:
                await http1.copy_exactly(conn.reader, writer, response.length, dog, head_bytes)
            else:
                writer.write(head_bytes)
                if has_body:
                    await http1.copy_to_end(conn.reader, writer, dog)
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
        if response.close or to_end or not reusable:
            conn.close()
        else:
            pool = self.idle.setdefault(url, [])
            if len(pool) < IDLE_PER_REPLICA:
                pool.append(conn)
            else:
                conn.close()
        return status, keep_client

    async def _response_head(self, conn: Connection) -> Head:
        while True:
            data = await http1.read_head(conn.reader)
            if data is None:
                raise UpstreamBroke()
            response = http1.parse_head(data, request=False)
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

    asyncio.run(run())


if __name__ == "__main__":
    _main()
