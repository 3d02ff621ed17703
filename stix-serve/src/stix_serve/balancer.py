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

import aiohttp
from aiohttp import web

from stix_serve.autoscaler import RequestRate

log = logging.getLogger("stix_serve.lb")

# Headers that belong to one connection and must not be forwarded (RFC 9110 7.6.1).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
MAX_ATTEMPTS = 3
# Failures that happen before a replica answered: safe to try another replica.
RETRYABLE = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError)


class ClientGone(Exception):
    """The client went away mid-response; nothing more can be sent to it."""

    def __init__(self, response: web.StreamResponse) -> None:
        super().__init__("client disconnected")
        self.response = response


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
    """One service's endpoint. The replica manager calls :meth:`set_ready` as replicas change."""

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
        self.session: aiohttp.ClientSession | None = None
        self.runner: web.AppRunner | None = None

    # routing state ---------------------------------------------------------

    def set_ready(self, urls: list[str]) -> None:
        """Replace the set of replicas that may receive new requests."""
        self.policy.set_urls(sorted(urls))

    @property
    def ready_urls(self) -> list[str]:
        return list(self.policy.urls)

    def in_flight(self, url: str) -> int:
        return self.inflight.get(url, 0)

    # server ----------------------------------------------------------------

    async def start(self, host: str, port: int, context: ssl.SSLContext | None = None) -> None:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None, enable_cleanup_closed=True)
        self.session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=10, sock_read=self.stream_timeout
            ),
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
        )
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port, ssl_context=context, reuse_address=True)
        await site.start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.rate.add(time.time())
        started = time.monotonic()
        body = await request.read() if request.body_exists else None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        tried: set[str] = set()
        error = "no ready replica"
        for _ in range(MAX_ATTEMPTS):
            url = self.policy.select(self.inflight, tried)
            if url is None:
                break
            tried.add(url)
            self.inflight[url] = self.inflight.get(url, 0) + 1
            try:
                response = await self._forward(request, url, headers, body)
            except ClientGone as gone:
                self._log(request, 499, url, started)
                return gone.response
            except RETRYABLE as exc:
                error = f"replica {url} failed: {type(exc).__name__}"
                log.info("retrying %s %s elsewhere: %s", request.method, request.path_qs, error)
                continue
            finally:
                self.inflight[url] -= 1
            self._log(request, response.status, url, started)
            return response
        status = 503 if not tried else 502
        self._log(request, status, None, started)
        return web.Response(status=status, text=f"stix serve: {error}\n")

    async def _forward(
        self, request: web.Request, url: str, headers: dict[str, str], body: bytes | None
    ) -> web.StreamResponse:
        assert self.session is not None
        async with self.session.request(
            request.method,
            url + request.rel_url.path_qs,
            headers=headers,
            data=body,
            allow_redirects=False,
        ) as upstream:
            out = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in upstream.headers.items():
                if key.lower() not in HOP_BY_HOP:
                    out.headers.add(key, value)
            length = upstream.headers.get("Content-Length")
            chunked = "chunked" in upstream.headers.get("Transfer-Encoding", "").lower()
            if length is not None and not chunked:
                out.content_length = int(length)
            else:
                out.enable_chunked_encoding()
            try:
                await out.prepare(request)
            except ConnectionError as exc:
                raise ClientGone(out) from exc
            # From here the client has the status line: a failure can no longer be retried.
            try:
                async for chunk in upstream.content.iter_any():
                    try:
                        await out.write(chunk)
                    except ConnectionError as exc:
                        raise ClientGone(out) from exc
            except RETRYABLE as exc:
                log.info("stream from %s broke: %s", url, type(exc).__name__)
                transport = request.transport
                if transport is not None:
                    transport.abort()  # the client sees a cut stream, not a short success
                return out
            try:
                await out.write_eof()
            except ConnectionError as exc:
                raise ClientGone(out) from exc
            return out

    def _log(self, request: web.Request, status: int, url: str | None, started: float) -> None:
        if self.access_log is not None:
            took = (time.monotonic() - started) * 1000
            self.access_log.info(
                "%s %s %s -> %s %.1fms", request.method, request.path_qs, status, url, took
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
