"""The load balancer in process, in front of real aiohttp replicas on loopback ports."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from stix_serve.balancer import LeastLoad, LoadBalancer, RoundRobin


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start_app(routes: list[web.RouteDef]) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


def named(name: str) -> list[web.RouteDef]:
    async def index(request: web.Request) -> web.Response:
        return web.Response(text=name)

    async def missing(request: web.Request) -> web.Response:
        return web.Response(status=404, text="nope")

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.Response(
            body=body, headers={"X-Seen": request.headers.get("X-Token", ""), "X-From": name}
        )

    return [web.get("/", index), web.get("/missing", missing), web.post("/echo", echo)]


def run(main: Callable[[], Awaitable[None]]) -> None:
    """Run the test on the standard event loop, then on uvloop (what the controller uses)."""
    asyncio.run(asyncio.wait_for(main(), 30))
    uvloop = pytest.importorskip("uvloop")
    uvloop.run(asyncio.wait_for(main(), 30))


async def with_lb(
    urls: list[str],
    body: Callable[[aiohttp.ClientSession, str, LoadBalancer], Awaitable[None]],
    policy: str = "round_robin",
) -> None:
    lb = LoadBalancer(policy)
    lb.set_ready(urls)
    port = free_port()
    await lb.start("127.0.0.1", port)
    try:
        async with aiohttp.ClientSession() as client:
            await body(client, f"http://127.0.0.1:{port}", lb)
    finally:
        await lb.stop()


def test_round_robin_spreads_and_passes_bodies_headers_and_statuses() -> None:
    async def main() -> None:
        a, url_a = await start_app(named("a"))
        b, url_b = await start_app(named("b"))

        async def body(client: aiohttp.ClientSession, lb_url: str, lb: LoadBalancer) -> None:
            seen = []
            for _ in range(6):
                async with client.get(lb_url + "/") as r:
                    seen.append(await r.text())
            assert sorted(seen) == ["a", "a", "a", "b", "b", "b"]
            payload = b"x" * 100_000
            async with client.post(
                lb_url + "/echo?q=1", data=payload, headers={"X-Token": "t1"}
            ) as r:
                assert r.status == 200
                assert await r.read() == payload
                assert r.headers["X-Seen"] == "t1"
                assert r.headers["Content-Length"] == str(len(payload))
            async with client.get(lb_url + "/missing") as r:  # an answer, not a failure
                assert (r.status, await r.text()) == (404, "nope")

        try:
            await with_lb([url_a, url_b], body)
        finally:
            await a.cleanup()
            await b.cleanup()

    run(main)


def test_a_dead_replica_is_retried_elsewhere_and_none_ready_is_503() -> None:
    async def main() -> None:
        live, url = await start_app(named("live"))
        dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there

        async def body(client: aiohttp.ClientSession, lb_url: str, lb: LoadBalancer) -> None:
            for _ in range(8):
                async with client.get(lb_url + "/") as r:
                    assert (r.status, await r.text()) == (200, "live")
            lb.set_ready([])
            async with client.get(lb_url + "/") as r:
                assert r.status == 503
            lb.set_ready([dead])
            async with client.get(lb_url + "/") as r:
                assert r.status == 502

        try:
            await with_lb([dead, url], body)
        finally:
            await live.cleanup()

    run(main)


def test_streams_are_forwarded_chunk_by_chunk() -> None:
    """The replica sends its second chunk only after the client has the first one:
    a proxy that buffered the body would never finish."""

    async def main() -> None:
        got_first = asyncio.Event()

        async def sse(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            await response.write(b"data: one\n\n")
            await asyncio.wait_for(got_first.wait(), 10)
            await response.write(b"data: two\n\n")
            await response.write_eof()
            return response

        app, url = await start_app([web.get("/sse", sse)])

        async def body(client: aiohttp.ClientSession, lb_url: str, lb: LoadBalancer) -> None:
            async with client.get(lb_url + "/sse") as r:
                assert r.headers["Content-Type"] == "text/event-stream"
                first = await r.content.readuntil(b"\n\n")
                assert first == b"data: one\n\n"
                got_first.set()
                assert await r.content.read() == b"data: two\n\n"

        try:
            await with_lb([url], body)
        finally:
            await app.cleanup()

    run(main)


def test_a_replica_dying_mid_stream_cuts_the_clients_stream() -> None:
    async def main() -> None:
        async def broken(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            await response.write(b"partial")
            await asyncio.sleep(0.1)
            assert request.transport is not None
            request.transport.abort()
            return response

        app, url = await start_app([web.get("/broken", broken), *named("ok")])

        async def body(client: aiohttp.ClientSession, lb_url: str, lb: LoadBalancer) -> None:
            async with client.get(lb_url + "/broken") as r:
                assert r.status == 200
                with pytest.raises(aiohttp.ClientPayloadError):
                    await r.read()
            async with client.get(lb_url + "/") as r:  # the endpoint still answers
                assert await r.text() == "ok"

        try:
            await with_lb([url], body)
        finally:
            await app.cleanup()

    run(main)


def test_least_load_avoids_the_busy_replica() -> None:
    async def main() -> None:
        release = asyncio.Event()

        async def slow(request: web.Request) -> web.Response:
            await release.wait()
            return web.Response(text="slow")

        a, url_a = await start_app([web.get("/", slow)])
        b, url_b = await start_app(named("b"))

        async def body(client: aiohttp.ClientSession, lb_url: str, lb: LoadBalancer) -> None:
            async def get() -> str:
                async with client.get(lb_url + "/") as r:
                    return await r.text()

            pending: list[asyncio.Task[str]] = []
            while lb.in_flight(url_a) == 0:  # round until one request sits on the slow replica
                pending.append(asyncio.create_task(get()))
                await asyncio.sleep(0.05)
            answers = [await get() for _ in range(5)]
            assert answers == ["b"] * 5
            release.set()
            await asyncio.gather(*pending)

        try:
            await with_lb([url_a, url_b], body, policy="least_load")
        finally:
            await a.cleanup()
            await b.cleanup()

    run(main)


def test_policies_skip_excluded_replicas() -> None:
    for policy in (RoundRobin(), LeastLoad()):
        policy.set_urls(["u1", "u2"])
        assert policy.select({}, {"u1"}) == "u2"
        assert policy.select({}, {"u1", "u2"}) is None


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl tool")
def test_tls_endpoint(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )

    async def main() -> None:
        from stix_serve.balancer import ssl_context

        app, url = await start_app(named("secure"))
        lb = LoadBalancer()
        lb.set_ready([url])
        port = free_port()
        await lb.start("127.0.0.1", port, ssl_context(str(cert), str(key)))
        client_ctx = ssl.create_default_context(cafile=str(cert))
        try:
            async with aiohttp.ClientSession() as client:
                async with client.get(f"https://127.0.0.1:{port}/", ssl=client_ctx) as r:
                    assert await r.text() == "secure"
                with pytest.raises(aiohttp.ClientError):
                    async with client.get(f"http://127.0.0.1:{port}/") as r:
                        await r.read()
        finally:
            await lb.stop()
            await app.cleanup()

    run(main)


async def raw_exchange(port: int, data: bytes) -> bytes:
    """Send raw bytes to the load balancer and read until it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    out = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return out


def test_http1_framing_edge_cases() -> None:
    """Chunked request bodies, HEAD, 204, bodies ending with the connection, kept replica
    connections, and requests that could smuggle another one are refused."""

    async def main() -> None:
        peers: set[object] = set()

        async def echo(request: web.Request) -> web.Response:
            peers.add(request.transport)
            body = await request.read()
            return web.Response(
                body=body, headers={"X-TE": request.headers.get("Transfer-Encoding", "")}
            )

        async def empty(request: web.Request) -> web.Response:
            return web.Response(status=204)

        async def to_end(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")  # HTTP/1.1 with neither length nor chunks
            writer.write(b"HTTP/1.1 200 OK\r\n\r\nuntil the end")
            await writer.drain()
            writer.close()

        app, url = await start_app(
            [web.post("/echo", echo), web.get("/empty", empty), *named("plain")]
        )
        end_port = free_port()
        raw = await asyncio.start_server(to_end, "127.0.0.1", end_port)
        lb = LoadBalancer()
        lb.set_ready([url])
        port = free_port()
        await lb.start("127.0.0.1", port)
        try:
            chunked = (
                b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                b"Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
            )
            out = await raw_exchange(port, chunked)
            assert out.startswith(b"HTTP/1.1 200") and out.endswith(b"hello world")
            assert b"X-TE: \r\n" in out  # forwarded with a Content-Length instead

            smuggle = (
                b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n"
            )
            assert (await raw_exchange(port, smuggle)).startswith(b"HTTP/1.1 400")
            twice = b"POST /echo HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
            assert (await raw_exchange(port, twice)).startswith(b"HTTP/1.1 400")
            bad_te = b"POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"
            assert (await raw_exchange(port, bad_te)).startswith(b"HTTP/1.1 501")

            head = await raw_exchange(port, b"HEAD / HTTP/1.1\r\nConnection: close\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200") and head.endswith(b"\r\n\r\n")
            none = await raw_exchange(port, b"GET /empty HTTP/1.1\r\nConnection: close\r\n\r\n")
            assert none.startswith(b"HTTP/1.1 204")
            lb.set_ready([f"http://127.0.0.1:{end_port}"])
            end = await raw_exchange(port, b"GET /end HTTP/1.1\r\n\r\n")
            assert end.endswith(b"until the end") and b"Connection: close" in end
            lb.set_ready([url])

            async with aiohttp.ClientSession() as client:
                for i in range(5):
                    async with client.post(f"http://127.0.0.1:{port}/echo", data=b"%d" % i) as r:
                        assert await r.read() == b"%d" % i
            assert len(peers) <= 2  # the replica connection was kept between requests
        finally:
            await lb.stop()
            await app.cleanup()
            raw.close()

    run(main)


def test_large_request_bodies_stream_to_the_replica_as_they_come() -> None:
    """A body past the buffered size reaches the replica while the client is still sending
    (the client waits for the replica to have read most of it before sending the end), with
    a Content-Length or chunked, and a dead replica before any of it was sent is skipped."""
    size = 3 * 1024 * 1024
    piece = b"z" * 65536

    async def main() -> None:
        halfway = asyncio.Event()

        async def sink(request: web.Request) -> web.Response:
            seen = 0
            digest = 0
            while True:
                data = await request.content.read(65536)
                if not data:
                    break
                seen += len(data)
                digest += data.count(b"z")
                if seen >= size - len(piece):
                    halfway.set()
            return web.Response(
                text=f"{seen} {digest}",
                headers={"X-TE": request.headers.get("Transfer-Encoding", "")},
            )

        app, url = await start_app([web.post("/sink", sink)])
        dead = f"http://127.0.0.1:{free_port()}"

        async def body(client: aiohttp.ClientSession, lb_url: str, lb: LoadBalancer) -> None:
            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(size // len(piece) - 1):
                    yield piece
                await asyncio.wait_for(halfway.wait(), 10)  # only a streaming proxy gets here
                yield piece

            for _ in range(2):  # one of the two goes to the dead replica first
                halfway.clear()
                async with client.post(lb_url + "/sink", data=chunks()) as r:
                    assert r.status == 200, await r.text()
                    assert await r.text() == f"{size} {size}"
                    assert r.headers["X-TE"] == "chunked"
            halfway.clear()
            headers = {"Content-Length": str(size)}
            async with client.post(lb_url + "/sink", data=chunks(), headers=headers) as r:
                assert await r.text() == f"{size} {size}"
                assert r.headers["X-TE"] == ""

        try:
            await with_lb([dead, url], body)
        finally:
            await app.cleanup()

    run(main)


def test_websockets_pass_through_both_ways() -> None:
    async def main() -> None:
        async def ws(request: web.Request) -> web.WebSocketResponse:
            sock = web.WebSocketResponse()
            await sock.prepare(request)
            async for message in sock:
                if message.type == aiohttp.WSMsgType.TEXT:
                    await sock.send_str("echo " + message.data)
                    await sock.send_bytes(message.data.encode() * 2)
            return sock

        app, url = await start_app([web.get("/ws", ws), *named("plain")])

        async def body(client: aiohttp.ClientSession, lb_url: str, lb: LoadBalancer) -> None:
            async with client.ws_connect(lb_url + "/ws") as sock:
                for word in ("one", "two"):
                    await sock.send_str(word)
                    assert (await sock.receive_str()) == "echo " + word
                    assert (await sock.receive_bytes()) == word.encode() * 2
            async with client.get(lb_url + "/") as r:  # plain requests still go through
                assert await r.text() == "plain"

        try:
            await with_lb([url], body)
        finally:
            await app.cleanup()

    run(main)


def test_chunk_sizes_another_parser_could_read_differently_are_refused() -> None:
    async def main() -> None:
        app, url = await start_app(named("x"))
        lb = LoadBalancer()
        lb.set_ready([url])
        port = free_port()
        await lb.start("127.0.0.1", port)
        try:
            for size in (b"0x5", b"+5", b"5_0", b""):
                request = (
                    b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + size
                    + b"\r\nhello\r\n0\r\n\r\n"
                )
                assert (await raw_exchange(port, request)).startswith(b"HTTP/1.1 400"), size
        finally:
            await lb.stop()
            await app.cleanup()

    run(main)
