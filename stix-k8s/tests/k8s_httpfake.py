"""Websocket upgrades for fakes built on the shared harness's ``FakeApi``.

The Kubernetes exec subresource is a websocket: a handler answers with :class:`Upgrade`,
the server completes the RFC 6455 handshake and hands the connection to
``Upgrade.serve(ws)``, which then owns it (server-side framing in :class:`WebSocket`).
Every other request goes through the harness unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import sys
import threading
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from harness import httpfake
from harness.httpfake import Request, Response, json_response

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@attrs.frozen
class Upgrade:
    """Accept a websocket with ``protocol`` and hand it to ``serve(ws)``."""

    protocol: str | None
    serve: Callable[[WebSocket], None]


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


class FakeApi(httpfake.FakeApi):
    """The harness's ``FakeApi`` plus websocket upgrades (``GET`` with ``Upgrade: websocket``)."""

    def start(self) -> FakeApi:
        super().start()
        assert self._server is not None
        plain = self._server.RequestHandlerClass
        self._server.RequestHandlerClass = _upgrading(self, plain)
        return self


def _upgrading(api: FakeApi, plain: Any) -> type[BaseHTTPRequestHandler]:
    class _Handler(plain):
        def do_GET(self) -> None:
            if self.headers.get("Upgrade", "").lower() != "websocket":
                plain.do_GET(self)
                return
            parts = urlsplit(self.path)
            request = Request(
                method="GET",
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=b"",
            )
            answer: Any = api.dispatch(request)
            if not isinstance(answer, Upgrade):
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
                return
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
                api.errors.append(traceback.format_exc())
            self.close_connection = True

    return _Handler


__all__ = [
    "FakeApi",
    "Request",
    "Response",
    "ThreadingHTTPServer",
    "Upgrade",
    "WebSocket",
    "json_response",
]
