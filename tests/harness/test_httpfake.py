"""The fake-API server base: routes, JSON, errors, chunked streams and HTTPS, over real HTTP."""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.request

import pytest

from harness.httpfake import FakeApi, Request, Response, json_response


class FakeThings(FakeApi):
    """A tiny REST API: create, get and stream things."""

    def __init__(self, tls: bool = False) -> None:
        super().__init__(tls=tls)
        self.things: dict[str, dict[str, object]] = {}
        self.route("POST", r"/v1/things", self.create)
        self.route("GET", r"/v1/things/(?P<name>[a-z0-9-]+)", self.get)
        self.route("GET", r"/v1/stream", self.stream)
        self.route("GET", r"/v1/boom", self.boom)

    def create(self, req: Request) -> Response:
        body = req.json()
        self.things[body["name"]] = body
        return json_response(body, status=201)

    def get(self, req: Request) -> Response:
        thing = self.things.get(req.params["name"])
        if thing is None:
            return json_response({"error": {"code": "NotFound"}}, status=404)
        return json_response({**thing, "view": req.arg("view", "basic")})

    def stream(self, req: Request) -> Response:
        return Response(200, (f"line {n}\n".encode() for n in range(3)), {"X-Kind": "log"})

    def boom(self, req: Request) -> Response:
        raise RuntimeError("handler bug")


def _call(url: str, method: str = "GET", body: object = None, context=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def test_routes_json_and_documented_errors() -> None:
    with FakeThings() as api:
        assert _call(f"{api.url}/v1/things", "POST", {"name": "a1", "size": 3})[0] == 201
        status, body, _ = _call(f"{api.url}/v1/things/a1?view=full")
        assert status == 200 and json.loads(body) == {"name": "a1", "size": 3, "view": "full"}
        status, body, _ = _call(f"{api.url}/v1/things/zz")
        assert status == 404 and json.loads(body)["error"]["code"] == "NotFound"
        assert _call(f"{api.url}/v1/nothing")[0] == 404
        assert _call(f"{api.url}/v1/things/a1", "DELETE")[0] == 405
        assert _call(f"{api.url}/v1/boom")[0] == 500
        assert "handler bug" in api.errors[0]
        assert api.calls[:2] == [("POST", "/v1/things"), ("GET", "/v1/things/a1")]


def test_keep_alive_and_chunked_stream() -> None:
    with FakeThings() as api:
        conn = http.client.HTTPConnection(api.url.split("//")[1], timeout=10)
        conn.request("GET", "/v1/stream")
        resp = conn.getresponse()
        assert resp.getheader("Transfer-Encoding") == "chunked"
        assert resp.read() == b"line 0\nline 1\nline 2\n"
        conn.request("POST", "/v1/things", body=b'{"name": "k"}')  # same connection
        assert conn.getresponse().status == 201
        conn.close()


def test_https_with_its_own_certificate() -> None:
    with FakeThings(tls=True) as api:
        assert api.url.startswith("https://") and api.ca_file
        trusted = ssl.create_default_context(cafile=api.ca_file)
        assert _call(f"{api.url}/v1/things/none", context=trusted)[0] == 404
        with pytest.raises(urllib.error.URLError):
            _call(f"{api.url}/v1/things/none", context=ssl.create_default_context())
