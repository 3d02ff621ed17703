"""More fakes on the fake Compute API's server: the Cloud Billing Catalog and Cloud TPU APIs.

``add_billing`` serves ``GET /v1/services/{service}/skus`` as documented at
https://cloud.google.com/billing/docs/reference/rest/v1/services.skus/list (paged with
``pageToken``/``nextPageToken``; prices as ``tieredRates[].unitPrice`` Money). ``add_tpu``
serves the TPU VM API v2 (https://cloud.google.com/tpu/docs/reference/rest/v2/projects.locations.nodes):
``nodes.create`` (returns a long-running operation), ``get``, ``delete`` and
``operations.get``; a node is backed by a harness node and honours the same faults, a
stockout being the operation error ``RESOURCE_EXHAUSTED`` (code 8) the TPU API reports.
``FakeMetadataServer`` is one VM's metadata server, for the head's autostop script.
"""

from __future__ import annotations

import itertools
from typing import Any

from gcp_fakes import PROJECT, FakeComputeApi, error
from harness.cloudnodes import NoFreeNode
from harness.httpfake import FakeApi, Request, Response, json_response

_T = r"/v2/projects/(?P<project>[^/]+)/locations/(?P<zone>[^/]+)"


def sku(description: str, regions: list[str], usd: float, unit: str = "h") -> dict[str, Any]:
    """One Compute Engine SKU as the Billing Catalog lists it."""
    units, nanos = int(usd), round((usd - int(usd)) * 1e9)
    return {
        "name": f"services/6F81-5844-456A/skus/{abs(hash(description)) % 10**12:012d}",
        "skuId": f"{abs(hash(description)) % 10**12:012d}",
        "description": description,
        "category": {"serviceDisplayName": "Compute Engine", "resourceFamily": "Compute"},
        "serviceRegions": regions,
        "pricingInfo": [
            {
                "pricingExpression": {
                    "usageUnit": unit,
                    "tieredRates": [
                        {"startUsageAmount": 0, "unitPrice": {"currencyCode": "USD", "units": str(units), "nanos": nanos}},
                    ],
                }
            }
        ],
    }  # fmt: skip


def add_billing(api: FakeComputeApi, skus: list[dict[str, Any]], page_size: int = 3) -> None:
    """Serve ``skus`` as the Compute Engine service's SKU list."""

    def list_skus(req: Request) -> Response:
        if req.params["service"] != "6F81-5844-456A":
            return error(404, "Service not found", "notFound")
        start = int(req.arg("pageToken") or 0)
        body: dict[str, Any] = {"skus": skus[start : start + page_size]}
        if start + page_size < len(skus):
            body["nextPageToken"] = str(start + page_size)
        return json_response(body)

    api.route("GET", r"/v1/services/(?P<service>[^/]+)/skus", list_skus)


class FakeTpu:
    """TPU VM nodes on ``api``'s server, backed by ``api.cloud``'s harness nodes."""

    def __init__(self, api: FakeComputeApi) -> None:
        self.api = api
        self.nodes: dict[tuple[str, str], dict[str, Any]] = {}
        self.ops: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        api.route("POST", _T + r"/nodes", self.create)
        api.route("GET", _T + r"/nodes/(?P<node>[^/]+)", self.get)
        api.route("DELETE", _T + r"/nodes/(?P<node>[^/]+)", self.delete)
        api.route("GET", _T + r"/operations/(?P<op>[^/]+)", self.operation)

    def _op(self, req: Request, error_: dict[str, Any] | None = None) -> Response:
        name = f"projects/{req.params['project']}/locations/{req.params['zone']}/operations/operation-{next(self._ids)}"
        op: dict[str, Any] = {"name": name, "done": True, "metadata": {"verb": req.method.lower()}}
        if error_:
            op["error"] = error_
        else:
            op["response"] = {}
        self.ops[name.rsplit("/", 1)[-1]] = op
        return json_response({**op, "done": False} if not error_ else op)

    def create(self, req: Request) -> Response:
        zone, node_id = req.params["zone"], req.arg("nodeId") or ""
        body = req.json()
        fault = self.api.cloud.faults.check(zone.rsplit("-", 1)[0], zone)
        if fault == "capacity":
            message = (
                f'There is no more capacity in the zone "{zone}"; you can try in another zone '
                "where Cloud TPU Nodes are offered (see https://cloud.google.com/tpu/docs/regions)"
            )
            return self._op(req, {"code": 8, "message": message})
        key = body["metadata"]["ssh-keys"].split(":", 1)[1]
        try:
            held = self.api.cloud.acquire(f"tpu:{zone}/{node_id}", [key])
        except NoFreeNode:
            return self._op(
                req, {"code": 8, "message": f'There is no more capacity in the zone "{zone}"'}
            )
        self.nodes[(zone, node_id)] = {
            **body,
            "name": f"projects/{req.params['project']}/locations/{zone}/nodes/{node_id}",
            "state": "READY",
            "networkEndpoints": [
                {"ipAddress": held.ip, "port": 8470, "accessConfig": {"externalIp": held.ip}}
            ],
            "_node": f"tpu:{zone}/{node_id}",
        }
        return self._op(req)

    def get(self, req: Request) -> Response:
        node = self.nodes.get((req.params["zone"], req.params["node"]))
        if node is None:
            return error(404, f"Resource '{req.path[4:]}' was not found", "notFound")
        return json_response({k: v for k, v in node.items() if not k.startswith("_")})

    def delete(self, req: Request) -> Response:
        node = self.nodes.pop((req.params["zone"], req.params["node"]), None)
        if node is None:
            return error(404, f"Resource '{req.path[4:]}' was not found", "notFound")
        self.api.cloud.release(node["_node"])
        return self._op(req)

    def operation(self, req: Request) -> Response:
        op = self.ops.get(req.params["op"])
        if op is None:
            return error(404, "operation not found", "notFound")
        return json_response(op)


class FakeMetadataServer(FakeApi):
    """The GCE metadata server as one instance sees it (``Metadata-Flavor: Google`` required).

    Follows https://cloud.google.com/compute/docs/metadata/predefined-metadata-keys ;
    the token is what ``instance/service-accounts/default/token`` returns.
    """

    def __init__(self, name: str, zone: str) -> None:
        super().__init__()
        answers = {
            "instance/name": name,
            "instance/zone": f"projects/4242/zones/{zone}",
            "project/project-id": PROJECT,
            "instance/service-accounts/default/token": (
                '{"access_token": "fake-vm-token", "expires_in": 3599, "token_type": "Bearer"}'
            ),
        }

        def answer(req: Request) -> Response:
            flavor = {k.lower(): v for k, v in req.headers.items()}.get("metadata-flavor")
            if flavor != "Google":
                return Response(403, b"Missing Metadata-Flavor:Google header.")
            text = answers.get(req.params["path"])
            return Response(404, b"not found") if text is None else Response(200, text.encode())

        self.route("GET", r"/computeMetadata/v1/(?P<path>.+)", answer)


__all__ = ["FakeMetadataServer", "FakeTpu", "add_billing", "sku"]
