"""A small threaded HTTP(S) server for fakes of cloud REST/JSON APIs, in test code only.

A fake subclasses :class:`FakeApi`, registers handlers with :meth:`FakeApi.route`, and is
started as a context manager on a free loopback port, so the plugin under test talks real
HTTP (HTTP/1.1 with keep-alive; HTTPS with a throwaway certificate when ``tls=True``) through
its real client library. Handlers return :class:`Response` objects; a body that is an
iterator of bytes is sent chunked, for streaming APIs.
"""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs


@attrs.define
class Request:
    """One request as a handler sees it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = attrs.Factory(dict)
    peer: str = ""  # the client's address

    def json(self) -> Any:
        """The body parsed as JSON (``None`` for an empty body)."""
        return json.loads(self.body) if self.body else None

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else default


@attrs.define
class Response:
    """What a handler answers: status, body (bytes, or an iterator of chunks), headers."""

    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = attrs.Factory(dict)


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response with the right content type."""
    return Response(
        status,
        json.dumps(obj).encode(),
        {"Content-Type": "application/json", **(headers or {})},
    )


Handler = Callable[[Request], Response]


class FakeApi:
    """Base of every fake API server; see the module docstring.

    :param tls: serve HTTPS with a self-signed certificate for ``127.0.0.1``/``localhost``;
        :attr:`ca_file` is then the PEM file a client must trust.
    :param host: address to bind (loopback unless a test needs a harness bridge address).
    """

    def __init__(self, tls: bool = False, host: str = "127.0.0.1") -> None:
        self.tls = tls
        self.host = host
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.calls: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.ca_file: str | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._lock = threading.Lock()

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Send ``method`` requests whose path fully matches ``pattern`` to ``handler``."""
        self.routes.append((method.upper(), re.compile(pattern), handler))

    @property
    def url(self) -> str:
        """``http(s)://host:port`` of the running server."""
        if self._server is None:
            raise RuntimeError("the fake API is not running")
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self._server.server_address[1]}"

    # -- life cycle ------------------------------------------------------------------

    def start(self) -> FakeApi:
        self._server = ThreadingHTTPServer((self.host, 0), _make_handler(self))
        self._server.daemon_threads = True
        if self.tls:
            self._server.socket = self._tls_context().wrap_socket(
                self._server.socket, server_side=True
            )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> FakeApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- dispatch ----------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        with self._lock:
            self.calls.append((request.method, request.path))
        known_path = False
        for method, pattern, handler in self.routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            known_path = True
            if method != request.method:
                continue
            request.params = {k: v for k, v in match.groupdict().items() if v is not None}
            try:
                return handler(request)
            except Exception:
                self.errors.append(traceback.format_exc())
                return json_response({"error": "fake API handler failed"}, status=500)
        if known_path:
            return json_response({"error": f"method {request.method} not allowed"}, status=405)
        return json_response({"error": f"no route for {request.path}"}, status=404)

    def _tls_context(self) -> ssl.SSLContext:
        self._tmp = tempfile.TemporaryDirectory(prefix="stix-fakeapi-")
        cert, key = Path(self._tmp.name) / "cert.pem", Path(self._tmp.name) / "key.pem"
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert),
                "-addext", f"subjectAltName=IP:{self.host},IP:127.0.0.1,DNS:localhost",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        self.ca_file = str(cert)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        return context


def _make_handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read api.calls
            return

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = _read_chunked(self.rfile)
            else:
                body = self.rfile.read(length) if length else b""
            request = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                peer=self.client_address[0],
            )
            response = api.dispatch(request)
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            if isinstance(response.body, (bytes, bytearray)):
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(response.body)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in _chunks(response.body):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    return _Handler


def _chunks(body: Iterable[bytes]) -> Iterator[bytes]:
    for chunk in body:
        if chunk:
            yield bytes(chunk)


def _read_chunked(stream: Any) -> bytes:
    out = bytearray()
    while True:
        size = int(stream.readline().split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            stream.readline()
            return bytes(out)
        out += stream.read(size)
        stream.readline()


__all__ = ["FakeApi", "Request", "Response", "json_response"]
