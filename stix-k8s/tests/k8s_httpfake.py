"""A small threaded HTTP/1.1 server for fakes of REST APIs, with websocket upgrades.

Same shape as the shared harness's ``FakeApi`` (``route``, ``Request``, ``Response``,
``json_response``, ``url``, ``calls``) so the Kubernetes fake can move onto it; it adds
what the exec API needs: a handler may answer with :class:`Upgrade` and then owns the
connection as a websocket (RFC 6455 framing, server side).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import threading
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@attrs.frozen
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = attrs.field(factory=dict)

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@attrs.frozen
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen
class Upgrade:
    """Accept a websocket with ``protocol`` and hand the socket to ``serve(ws)``."""

    protocol: str | None
    serve: Callable[[WebSocket], None]


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})}
    )


class WebSocket:
    """The server end of one websocket: send frames (thread-safe), receive messages."""

    def __init__(self, rfile: Any, wfile: Any) -> None:
        self.rfile = rfile
        self.wfile = wfile
        self.lock = threading.Lock()
        self.closed = False

    def send(self, data: bytes, opcode: int = 2) -> None:
        head = bytes([0x80 | opcode])
        n = len(data)
        if n < 126:
            head += bytes([n])
        elif n < 1 << 16:
            head += bytes([126]) + struct.pack(">H", n)
        else:
            head += bytes([127]) + struct.pack(">Q", n)
        with self.lock:
            if self.closed:
                return
            try:
                self.wfile.write(head + data)
                self.wfile.flush()
            except OSError:
                self.closed = True

    def close(self) -> None:
        self.send(struct.pack(">H", 1000), opcode=8)
        with self.lock:
            self.closed = True

    def receive(self) -> tuple[int, bytes] | None:
        """The next message ``(opcode, payload)``; ``None`` at close or EOF."""
        message, opcode = b"", 0
        while True:
            head = self.rfile.read(2)
            if len(head) < 2:
                return None
            b1, b2 = head
            n = b2 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self.rfile.read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self.rfile.read(8))[0]
            mask = self.rfile.read(4) if b2 & 0x80 else b"\0\0\0\0"
            data = bytearray(self.rfile.read(n))
            for i in range(len(data)):
                data[i] ^= mask[i % 4]
            op = b1 & 0x0F
            if op == 8:
                return None
            if op in (9, 10):
                continue
            if op:
                opcode = op
            message += bytes(data)
            if b1 & 0x80:
                return opcode, message


class FakeApi:
    """Threaded HTTP server on ``127.0.0.1:<free port>``; subclasses add routes."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Callable[[Request], Any]]] = []
        self.calls: list[tuple[str, str]] = []
        self.log: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    def route(self, method: str, pattern: str, handler: Callable[[Request], Any]) -> None:
        self._routes.append((method, re.compile(pattern), handler))

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def dispatch(self, request: Request) -> Any:
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                return handler(attrs.evolve(request, params=match.groupdict()))
        return json_response({"message": f"no route for {request.method} {request.path}"}, 404)

    def __enter__(self) -> FakeApi:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(
                    self.command, parts.path, parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()}, body,
                )  # fmt: skip
                fake.calls.append((self.command, parts.path))
                try:
                    answer = fake.dispatch(request)
                except Exception:
                    fake.log.append(traceback.format_exc())
                    answer = json_response({"message": "fake failed"}, 500)
                if isinstance(answer, Upgrade):
                    self._upgrade(answer)
                    return
                self.send_response(answer.status)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def _upgrade(self, answer: Upgrade) -> None:
                key = self.headers.get("Sec-WebSocket-Key", "")
                accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
                self.send_response(101, "Switching Protocols")
                self.send_header("Upgrade", "websocket")
                self.send_header("Connection", "Upgrade")
                self.send_header("Sec-WebSocket-Accept", accept)
                if answer.protocol:
                    self.send_header("Sec-WebSocket-Protocol", answer.protocol)
                self.end_headers()
                self.wfile.flush()
                try:
                    answer.serve(WebSocket(self.rfile, self.wfile))
                except Exception:
                    fake.log.append(traceback.format_exc())
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
