"""The replica server the serve tests run: a small aiohttp app.

``python serve_app.py HOST PORT``. Env: ``READY_AFTER`` (seconds before /health answers
200), ``MESSAGE`` (text of /), ``SKYPILOT_SERVE_REPLICA_ID``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from aiohttp import web

STARTED = time.monotonic()
REPLICA = os.environ.get("SKYPILOT_SERVE_REPLICA_ID", "?")
MESSAGE = os.environ.get("MESSAGE", "hello")


def ready() -> bool:
    return time.monotonic() - STARTED >= float(os.environ.get("READY_AFTER", "0"))


async def index(request: web.Request) -> web.Response:
    if not ready():  # traffic before the probe passed: the test counts these
        return web.Response(status=500, text="not ready yet\n")
    return web.Response(text=f"{MESSAGE} from {REPLICA}\n")


async def health(request: web.Request) -> web.Response:
    # the probe with post_data and headers
    if request.method == "POST" and (
        (await request.json()) != {"probe": "yes"} or request.headers.get("X-Probe") != "1"
    ):
        return web.Response(status=400, text="bad probe\n")
    if not ready():
        return web.Response(status=503, text="warming up\n")
    return web.Response(text="ok\n")


async def pid(request: web.Request) -> web.Response:
    return web.Response(text=str(os.getpid()))


async def stream(request: web.Request) -> web.StreamResponse:
    chunks = int(request.query.get("n", "10"))
    delay = float(request.query.get("delay", "0.1"))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for i in range(chunks):
        await response.write(f"data: {REPLICA} {i}\n\n".encode())
        await asyncio.sleep(delay)
    await response.write_eof()
    return response


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.Response(body=body, headers={"X-Replica": REPLICA})


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_route("*", "/health", health)
    app.router.add_get("/pid", pid)
    app.router.add_get("/stream", stream)
    app.router.add_post("/echo", echo)
    web.run_app(app, host=host, port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
