"""FakeLambdaApi: the Lambda Cloud REST API v1 on loopback, whose instances are harness nodes.

Follows https://docs-api.lambda.ai/api/cloud: ``/api/v1/instance-types``,
``/instances``, ``/instances/{id}``, ``/instance-operations/launch`` and
``/terminate``, ``/ssh-keys``, ``/firewall-rules``. Answers are ``{"data": ...}``;
errors are ``{"error": {"code", "message", "suggestion"}}`` with Lambda's codes
(``global/invalid-api-key`` 401, ``instance-operations/launch/insufficient-capacity``
and ``global/quota-exceeded`` 400, ``global/object-does-not-exist`` 404,
``global/invalid-parameters`` 400). A launched instance takes a node of the
harness :class:`CloudNodes` and gets that node's address; faults injected on the
harness (by region) turn launches into the capacity or quota answers.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

from harness.cloudnodes import CloudNodes, NoFreeNode
from harness.httpfake import FakeApi, Request, Response, json_response

API_KEY = "secret_fake-lambda-key"
REGIONS = ("us-east-1", "us-west-1", "us-south-1", "europe-central-1", "asia-northeast-1")
TYPES = {
    "gpu_1x_a10": ("1x A10 (24 GB PCIe)", "A10 (24 GB PCIe)", 129, 30, 200, 1),
    "gpu_8x_a100": ("8x A100 (40 GB SXM4)", "A100 (40 GB SXM4)", 1592, 124, 1800, 8),
    "gpu_8x_a100_80gb_sxm4": ("8x A100 (80 GB SXM4)", "A100 (80 GB SXM4)", 2232, 240, 1800, 8),
    "gpu_1x_gh200": ("1x GH200 (96 GB)", "GH200 (96 GB)", 229, 64, 432, 1),
    "cpu_4x_general": ("4x CPU General", "", 20, 4, 16, 0),
}


def error(status: int, code: str, message: str, suggestion: str | None = None) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if suggestion:
        body["suggestion"] = suggestion
    return json_response({"error": body}, status=status)


class FakeLambdaApi(FakeApi):
    """Lambda Cloud's API for one account; ``sold_out`` types have capacity nowhere."""

    def __init__(self, cloud: CloudNodes, host: str = "127.0.0.1") -> None:
        super().__init__(host=host)
        self.cloud = cloud
        self.instances: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, dict[str, Any]] = {}
        self.firewall: list[dict[str, Any]] = [
            {"protocol": "tcp", "port_range": [22, 22], "source_network": "0.0.0.0/0",
             "description": "SSH"}
        ]  # fmt: skip
        self.sold_out: set[str] = set()
        self.launches: list[dict[str, Any]] = []
        self.terminated_from: list[str] = []  # the address each terminate call came from
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        base = "/api/v1"
        self.route("GET", f"{base}/instance-types", self.instance_types)
        self.route("GET", f"{base}/instances", self.list_instances)
        self.route("GET", f"{base}/instances/(?P<id>[^/]+)", self.get_instance)
        self.route("POST", f"{base}/instance-operations/launch", self.launch)
        self.route("POST", f"{base}/instance-operations/terminate", self.terminate)
        self.route("GET", f"{base}/ssh-keys", self.list_keys)
        self.route("POST", f"{base}/ssh-keys", self.add_key)
        self.route("DELETE", f"{base}/ssh-keys/(?P<id>[^/]+)", self.delete_key)
        self.route("GET", f"{base}/firewall-rules", self.get_firewall)
        self.route("PUT", f"{base}/firewall-rules", self.put_firewall)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v1"

    def dispatch(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if auth != f"Bearer {API_KEY}":
            return error(401, "global/invalid-api-key", "API key was invalid, expired, or deleted.")
        return super().dispatch(request)

    # -- instance types --------------------------------------------------------------

    def _type(self, name: str) -> dict[str, Any]:
        desc, gpu, cents, vcpus, mem, gpus = TYPES[name]
        return {
            "name": name,
            "description": desc,
            "gpu_description": gpu,
            "price_cents_per_hour": cents,
            "specs": {"vcpus": vcpus, "memory_gib": mem, "storage_gib": 512, "gpus": gpus},
        }

    def instance_types(self, req: Request) -> Response:
        data = {}
        for name in TYPES:
            regions = [] if name in self.sold_out else list(REGIONS)
            data[name] = {
                "instance_type": self._type(name),
                "regions_with_capacity_available": [{"name": r, "description": r} for r in regions],
            }
        return json_response({"data": data})

    # -- instances ---------------------------------------------------------------------

    def _view(self, inst: dict[str, Any]) -> dict[str, Any]:
        node = None
        try:
            node = self.cloud.node(inst["id"])
        except KeyError:
            pass
        if inst["status"] == "booting" and node is not None and not node.booting:
            inst["status"] = "active"
        return dict(inst)

    def list_instances(self, req: Request) -> Response:
        with self._lock:
            return json_response({"data": [self._view(i) for i in self.instances.values()]})

    def get_instance(self, req: Request) -> Response:
        with self._lock:
            inst = self.instances.get(req.params["id"])
            if inst is None:
                return error(
                    404, "global/object-does-not-exist", "Specified instance does not exist."
                )
            return json_response({"data": self._view(inst)})

    def launch(self, req: Request) -> Response:
        body = req.json() or {}
        self.launches.append(body)
        region, itype = body.get("region_name"), body.get("instance_type_name")
        keys = body.get("ssh_key_names") or []
        if region not in REGIONS or itype not in TYPES:
            return error(400, "global/invalid-parameters", "Invalid region or instance type.")
        if len(keys) != 1 or not any(k["name"] == keys[0] for k in self.keys.values()):
            return error(
                400, "global/invalid-parameters", "Exactly one existing SSH key must be given."
            )
        fault = self.cloud.faults.check(region)
        if fault == "quota":
            return error(400, "global/quota-exceeded", "Quota exceeded for your account.",
                         "Contact support to increase your quota.")  # fmt: skip
        if fault == "capacity" or itype in self.sold_out:
            return error(400, "instance-operations/launch/insufficient-capacity",
                         "Not enough capacity to fulfill launch request.",
                         "Choose an instance type with more availability, or try again later.")  # fmt: skip
        public = next(k["public_key"] for k in self.keys.values() if k["name"] == keys[0])
        made: list[str] = []
        with self._lock:
            for _ in range(int(body.get("quantity") or 1)):
                iid = f"0920582c7ff041399e34823a0be6{next(self._ids):04x}"
                try:
                    node = self.cloud.acquire(iid, [public])
                except NoFreeNode:
                    for done in made:
                        self.cloud.release(done)
                        del self.instances[done]
                    return error(400, "instance-operations/launch/insufficient-capacity",
                                 "Not enough capacity to fulfill launch request.")  # fmt: skip
                self.instances[iid] = {
                    "id": iid,
                    "name": body.get("name"),
                    "ip": node.ip,
                    "private_ip": node.ip,
                    "status": "booting",
                    "ssh_key_names": keys,
                    "file_system_names": [],
                    "region": {"name": region, "description": region},
                    "instance_type": self._type(itype),
                    "hostname": f"{node.ip.replace('.', '-')}.cloud.lambdalabs.com",
                    "is_reserved": False,
                }
                made.append(iid)
        return json_response({"data": {"instance_ids": made}})

    def terminate(self, req: Request) -> Response:
        ids = (req.json() or {}).get("instance_ids") or []
        with self._lock:
            self.terminated_from.append(req.peer)
            missing = [i for i in ids if i not in self.instances]
            if missing:
                return error(
                    404, "global/object-does-not-exist", "Specified instance does not exist."
                )
            gone = []
            for iid in ids:
                inst = self.instances.pop(iid)
                self.cloud.release(iid)
                inst["status"] = "terminated"
                gone.append(inst)
        return json_response({"data": {"terminated_instances": gone}})

    # -- SSH keys and firewall -----------------------------------------------------------

    def list_keys(self, req: Request) -> Response:
        return json_response({"data": list(self.keys.values())})

    def add_key(self, req: Request) -> Response:
        body = req.json() or {}
        name = body.get("name")
        if not name or any(k["name"] == name for k in self.keys.values()):
            return error(
                400, "global/invalid-parameters", "SSH key name missing or already in use."
            )
        kid = f"ddf9a910ceb744a0bb95242cbba6{len(self.keys) + 1:04x}"
        self.keys[kid] = {"id": kid, "name": name, "public_key": body.get("public_key", "")}
        return json_response({"data": self.keys[kid]})

    def delete_key(self, req: Request) -> Response:
        if self.keys.pop(req.params["id"], None) is None:
            return error(404, "global/object-does-not-exist", "Specified SSH key does not exist.")
        return json_response({"data": {}})

    def get_firewall(self, req: Request) -> Response:
        return json_response({"data": self.firewall})

    def put_firewall(self, req: Request) -> Response:
        self.firewall = list((req.json() or {}).get("data") or [])
        return json_response({"data": self.firewall})


__all__ = ["API_KEY", "REGIONS", "FakeLambdaApi"]
