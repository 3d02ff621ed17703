"""``stix.rest``: one JSON call over real HTTP, answers of every status, unreachable servers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from stix.errors import ProvisionError
from stix.rest import base_url, request


class _Echo(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        return

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        status = 404 if self.path.startswith("/missing") else 200
        out = {"method": self.command, "path": self.path, "body": body,
               "auth": self.headers.get("Authorization"), "type": self.headers.get("Content-Type")}  # fmt: skip
        raw = json.dumps(out if status == 200 else {"error": "nope"}).encode()
        if self.path.startswith("/text"):
            raw = b"<html>not json</html>"
        self.send_response(status)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_PUT = do_DELETE = _answer


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_json_body_and_bearer_token(server: str) -> None:
    answer = request("POST", f"{server}/api/v1/launch", token="secret_t", body={"n": 1})
    assert answer.ok and answer.status == 200
    assert answer.payload == {"method": "POST", "path": "/api/v1/launch", "body": {"n": 1},
                              "auth": "Bearer secret_t", "type": "application/json"}  # fmt: skip
    plain = request("DELETE", f"{server}/x").payload
    assert plain["body"] is None and plain["auth"] is None and plain["type"] is None


def test_error_statuses_and_non_json_are_answers(server: str) -> None:
    missing = request("GET", f"{server}/missing")
    assert (missing.ok, missing.status, missing.payload) == (False, 404, {"error": "nope"})
    assert request("GET", f"{server}/text").payload is None


def test_unreachable_server_is_a_cloud_scoped_error_without_the_token() -> None:
    with pytest.raises(ProvisionError) as info:
        request("GET", "http://127.0.0.1:9/api?x=1", token="secret_t", what="acme", timeout=5)
    assert info.value.scope == "cloud"
    assert info.value.message.startswith("acme: cannot reach http://127.0.0.1:9/api: ")
    assert "secret_t" not in str(info.value)


def test_base_url_override_order(monkeypatch: pytest.MonkeyPatch, stix_home: Any) -> None:
    (stix_home / "config.yaml").write_text("acme:\n  api_url: http://from-config/v1/\n")
    assert (
        base_url("STIX_ACME_API_URL", "acme.api_url", "https://acme.example/v1")
        == "http://from-config/v1"
    )
    monkeypatch.setenv("STIX_ACME_API_URL", "http://from-env/v1")
    assert (
        base_url("STIX_ACME_API_URL", "acme.api_url", "https://acme.example/v1")
        == "http://from-env/v1"
    )
    (stix_home / "config.yaml").write_text("")
    monkeypatch.delenv("STIX_ACME_API_URL")
    assert (
        base_url("STIX_ACME_API_URL", "acme.api_url", "https://acme.example/v1")
        == "https://acme.example/v1"
    )
