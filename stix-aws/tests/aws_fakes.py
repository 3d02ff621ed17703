"""Test helpers: test-side boto3 clients, a leak check, and fakes that sit in front of moto.

``FakeCapacityProxy`` forwards every request to moto except ``RunInstances`` into
chosen subnets, which it answers with the EC2 error AWS documents (for example
``InsufficientInstanceCapacity``, a server error). ``FakePricingServer`` answers
the Price List API's ``GetProducts``, which moto does not serve.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REGIONS = ("us-east-1", "us-west-2")
SSH_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHp5Yq7kd1zH0gO6mJ3sYc7Qe4bX0VJw3XzjQ0H1s4rH stix-test"
)


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's server on a free loopback port, ``http://127.0.0.1:<port>``, while inside."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def aws_client(endpoint: str, service: str, region: str = "us-east-1") -> Any:
    """A test-side boto3 client (for setting up and checking, not the code under test)."""
    import boto3

    return boto3.client(
        service,
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def default_subnets(ec2: Any) -> dict[str, str]:
    """Zone -> id of the default VPC's default subnet there."""
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    found = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    return {s["AvailabilityZone"]: s["SubnetId"] for s in found if s.get("DefaultForAz")}


def leftovers(endpoint: str) -> dict[str, list[str]]:
    """Instances (not terminated), security groups (not default) and key pairs still there."""
    found: dict[str, list[str]] = {}
    for region in REGIONS:
        ec2 = aws_client(endpoint, "ec2", region)
        reservations = ec2.describe_instances(
            Filters=[
                {
                    "Name": "instance-state-name",
                    "Values": ["pending", "running", "stopping", "stopped", "shutting-down"],
                }
            ]
        )["Reservations"]
        instances = [i["InstanceId"] for r in reservations for i in r["Instances"]]
        groups = [
            g["GroupName"]
            for g in ec2.describe_security_groups()["SecurityGroups"]
            if g["GroupName"] != "default"
        ]
        keys = [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]]
        for kind, items in (
            ("instances", instances),
            ("security groups", groups),
            ("key pairs", keys),
        ):
            if items:
                found[f"{region} {kind}"] = items
    return found


class _Server:
    """A threaded HTTP server on a free loopback port, stopped by :meth:`close`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _ec2_error(code: str, message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
        "<RequestID>fake-0000</RequestID></Response>"
    ).encode()


# code -> (HTTP status, message) as EC2 answers them
EC2_ERRORS = {
    "InsufficientInstanceCapacity": (
        500,
        "We currently do not have sufficient capacity in the Availability Zone you requested.",
    ),
    "VcpuLimitExceeded": (
        400,
        "You have requested more vCPU capacity than your current vCPU limit allows.",
    ),
    "AuthFailure": (401, "AWS was not able to validate the provided access credentials"),
    "SpotMaxPriceTooLow": (
        400,
        "Your Spot request price is lower than the minimum required Spot request fulfillment price.",
    ),
}


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        return None

    def _forward(self) -> None:
        proxy: FakeCapacityProxy = self.server.owner  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        form = urllib.parse.parse_qs(body.decode(errors="replace"))
        if form.get("Action") == ["RunInstances"]:
            subnet = (form.get("SubnetId") or [""])[0]
            proxy.launches.append(subnet)
            code = proxy.fail.get(subnet) or proxy.fail.get("*")
            if code:
                status, message = EC2_ERRORS[code]
                payload = _ec2_error(code, message)
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
        early = proxy.before(form, dict(self.headers))
        if early is not None:
            status, payload = early
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        upstream = urllib.parse.urlparse(proxy.upstream)
        conn = HTTPConnection(upstream.hostname, upstream.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(self.command, self.path, body=body, headers=headers)
        reply = conn.getresponse()
        data = reply.read()
        if reply.status < 300:
            data = proxy.after(form, dict(self.headers), data)
        self.send_response(reply.status)
        for key, value in reply.getheaders():
            if key.lower() not in (
                "transfer-encoding",
                "connection",
                "content-length",
                "server",
                "date",
            ):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward


class FakeCapacityProxy(_Server):
    """Forwards to moto, but fails ``RunInstances`` into the subnets in ``fail``.

    :param fail: ``{subnet id (or "*"): error code from EC2_ERRORS}``.
    """

    def __init__(self, upstream: str, fail: dict[str, str]) -> None:
        self.upstream = upstream
        self.fail = dict(fail)
        self.launches: list[str] = []
        super().__init__(_ProxyHandler)

    def before(
        self, form: dict[str, list[str]], headers: dict[str, str]
    ) -> tuple[int, bytes] | None:
        """An answer of its own for this request (status, XML body), or ``None`` to forward it."""
        return None

    def after(self, form: dict[str, list[str]], headers: dict[str, str], data: bytes) -> bytes:
        """moto's successful reply as the client should see it (unchanged here)."""
        return data


def price_item(instance_type: str, region: str, usd: float) -> str:
    """One ``PriceList`` entry shaped like the Price List API's on-demand EC2 products."""
    sku = f"FAKE{abs(hash((instance_type, region))) % 10**8:08d}"
    return json.dumps(
        {
            "product": {
                "productFamily": "Compute Instance",
                "sku": sku,
                "attributes": {
                    "instanceType": instance_type,
                    "regionCode": region,
                    "operatingSystem": "Linux",
                    "tenancy": "Shared",
                    "preInstalledSw": "NA",
                    "capacitystatus": "Used",
                },
            },
            "serviceCode": "AmazonEC2",
            "terms": {
                "OnDemand": {
                    f"{sku}.JRTCKXETXF": {
                        "priceDimensions": {
                            f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                                "unit": "Hrs",
                                "pricePerUnit": {"USD": f"{usd:.10f}"},
                                "description": f"${usd} per On Demand Linux {instance_type} Instance Hour",
                            }
                        },
                        "sku": sku,
                    }
                }
            },
            "version": "20240101000000",
        }
    )


class _PricingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        return None

    def do_POST(self) -> None:
        fake: FakePricingServer = self.server.owner  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        fake.requests.append(request)
        target = self.headers.get("X-Amz-Target", "")
        if not target.endswith("GetProducts"):
            self._reply(
                400, {"__type": "InvalidParameterException", "Message": f"unsupported {target}"}
            )
            return
        region = next(
            (f["Value"] for f in request.get("Filters", []) if f["Field"] == "regionCode"), None
        )
        items = [price_item(t, r, p) for (t, r), p in sorted(fake.prices.items()) if r == region]
        start = int(request.get("NextToken") or 0)
        page = items[start : start + fake.page_size]
        body: dict[str, Any] = {"FormatVersion": "aws_v1", "PriceList": page}
        if start + fake.page_size < len(items):
            body["NextToken"] = str(start + fake.page_size)
        self._reply(200, body)

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FakePricingServer(_Server):
    """The Price List API's ``GetProducts`` for ``prices`` ``{(type, region): USD}``, paged."""

    def __init__(self, prices: dict[tuple[str, str], float], page_size: int = 2) -> None:
        self.prices = prices
        self.page_size = page_size
        self.requests: list[dict[str, Any]] = []
        super().__init__(_PricingHandler)


class _ImdsHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        return None

    def _send(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self) -> None:
        if self.path == "/latest/api/token" and self.headers.get(
            "X-aws-ec2-metadata-token-ttl-seconds"
        ):
            self._send(200, "fake-imds-token")
        else:
            self._send(400, "bad request")

    def do_GET(self) -> None:
        fake: FakeImdsServer = self.server.owner  # type: ignore[attr-defined]
        if self.headers.get("X-aws-ec2-metadata-token") != "fake-imds-token":
            self._send(401, "IMDSv2 token required")
            return
        creds = json.dumps(
            {
                "Code": "Success",
                "AccessKeyId": "ASIAFAKE",
                "SecretAccessKey": "fake",
                "Token": "fake-session",
            }
        )
        answers = {
            "/latest/meta-data/instance-id": fake.instance_id,
            "/latest/meta-data/placement/region": fake.region,
            "/latest/meta-data/iam/security-credentials/": "stix-node",
            "/latest/meta-data/iam/security-credentials/stix-node": creds,
        }
        if self.path in answers:
            self._send(200, answers[self.path])
        else:
            self._send(404, "not found")


class FakeImdsServer(_Server):
    """The instance metadata service (IMDSv2 token first) as seen from one instance."""

    def __init__(self, instance_id: str, region: str) -> None:
        self.instance_id = instance_id
        self.region = region
        super().__init__(_ImdsHandler)
