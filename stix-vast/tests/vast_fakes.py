"""FakeVastApi: the Vast.ai REST API (``/api/v0``) on loopback, whose instances are harness nodes.

Follows https://docs.vast.ai/api-reference: search offers (``POST /bundles/`` with a
query of ``{"field": {"eq"|"gte"|"in": ...}}`` filters, ``type``, ``order``,
``limit``), create an instance from an offer (``PUT /asks/{id}/``, answering
``{"success": true, "new_contract": id}``), ``GET /instances/``, change state
(``PUT /instances/{id}/`` with ``{"state": "stopped"|"running"}``), destroy
(``DELETE /instances/{id}/``), account SSH keys (``/ssh/``) and
``GET /users/current/``. Errors are ``{"success": false, "error", "msg"}``:
``no_such_ask`` (404) when the offer was rented or withdrawn,
``insufficient_credit`` (402), and 401 for a bad key.

A Vast instance is a docker container on a host; here the "container" is a
harness node (a real sshd in its own namespace), so the requested image is
recorded but not pulled. The account's SSH keys are installed on a new
instance, as Vast does. Faults injected on the harness by country turn creates
into ``no_such_ask`` (capacity) or ``insufficient_credit`` (quota).
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any

from harness.cloudnodes import CloudNodes, NoFreeNode
from harness.httpfake import FakeApi, Request, Response, json_response

API_KEY = "fake0vast0key0000000000000000000000000000000000000000000000000001"
# gpu_name, GB, $/h per GPU, min bid per GPU, vCPU per GPU, RAM MiB per GPU, countries
MACHINES = [
    ("RTX 4090", 24, 0.37, 0.19, 8, 32768, ("US", "SE", "TW")),
    ("A100 SXM4", 80, 0.93, 0.50, 16, 122880, ("US", "DE")),
    ("H100 SXM", 80, 1.87, 1.10, 16, 184320, ("US",)),
]


def failure(status: int, code: str, msg: str) -> Response:
    return json_response({"success": False, "error": code, "msg": msg}, status=status)


def _matches(value: Any, test: Any) -> bool:
    if not isinstance(test, dict):
        return bool(value == test)
    for op, want in test.items():
        if op == "eq" and value != want:
            return False
        if op == "gte" and not (value is not None and value >= want):
            return False
        if op == "lte" and not (value is not None and value <= want):
            return False
        if op == "in" and value not in want:
            return False
    return True


class FakeVastApi(FakeApi):
    """One Vast.ai account and a small marketplace of offers (two per machine and country)."""

    def __init__(self, cloud: CloudNodes, host: str = "127.0.0.1") -> None:
        super().__init__(host=host)
        self.cloud = cloud
        self.changed_from: list[tuple[str, str]] = []  # (operation, client address)
        self.offers: dict[int, dict[str, Any]] = {}
        self.instances: dict[int, dict[str, Any]] = {}
        self.keys: dict[int, dict[str, Any]] = {}
        self.creates: list[tuple[int, dict[str, Any]]] = []
        self.searches: list[dict[str, Any]] = []
        self.race_taken: set[int] = (
            set()
        )  # found by a search, rented by someone else before the create
        ids = itertools.count(1000)
        for gpu, gb, price, bid, cpu, ram, countries in MACHINES:
            for n in (1, 2, 4, 8):
                for code in countries:
                    for extra in (0.0, 0.05):
                        oid = next(ids)
                        self.offers[oid] = {
                            "id": oid, "ask_contract_id": oid, "machine_id": oid * 7,
                            "gpu_name": gpu, "num_gpus": n, "gpu_ram": gb * 1024,
                            "cpu_cores_effective": cpu * n, "cpu_ram": ram * n,
                            "dph_total": round((price + extra) * n, 4), "min_bid": round((bid + extra) * n, 4),
                            "geolocation": f"Somewhere, {code}", "rentable": True, "verified": True,
                            "external": False, "reliability2": 0.99, "datacenter": code == "US",
                        }  # fmt: skip
        self._contracts = itertools.count(7000001)
        self._lock = threading.Lock()
        base = "/api/v0"
        self.route("GET", f"{base}/users/current/", self.current_user)
        self.route("POST", f"{base}/bundles/", self.search)
        self.route("PUT", f"{base}/asks/(?P<id>\\d+)/", self.create)
        self.route("GET", f"{base}/instances/", self.list_instances)
        self.route("PUT", f"{base}/instances/(?P<id>\\d+)/", self.manage)
        self.route("DELETE", f"{base}/instances/(?P<id>\\d+)/", self.destroy)
        self.route("GET", f"{base}/ssh/", self.list_keys)
        self.route("POST", f"{base}/ssh/", self.add_key)
        self.route("DELETE", f"{base}/ssh/(?P<id>\\d+)/", self.delete_key)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v0"

    def dispatch(self, request: Request) -> Response:
        if request.headers.get("authorization", "") != f"Bearer {API_KEY}":
            return failure(401, "not_authorized", "Invalid or missing API key.")
        return super().dispatch(request)

    def current_user(self, req: Request) -> Response:
        return json_response(
            {"id": 4242, "username": "dev", "email": "dev@example.com", "credit": 12.5}
        )

    # -- offers ----------------------------------------------------------------------------

    def search(self, req: Request) -> Response:
        query = dict(req.json() or {})
        self.searches.append(dict(query))
        kind = query.pop("type", "on-demand")
        order = query.pop("order", [["dph_total", "asc"]])
        limit = int(query.pop("limit", 64))
        found = []
        for offer in self.offers.values():
            view = {**offer, "geolocation": offer["geolocation"].split(", ")[-1]}
            if all(_matches(view.get(k), v) for k, v in query.items()):
                found.append(offer)
        key, direction = (order[0] if order else ["dph_total", "asc"])[:2]
        found.sort(key=lambda o: o.get(key) or 0, reverse=direction == "desc")
        if kind == "bid":
            found = [o for o in found if o.get("min_bid")]
        return json_response({"offers": found[:limit]})

    def create(self, req: Request) -> Response:
        oid = int(req.params["id"])
        body = req.json() or {}
        self.creates.append((oid, body))
        offer = self.offers.get(oid)
        if offer is None or not offer["rentable"] or oid in self.race_taken:
            return failure(404, "no_such_ask", f"Instance type by id {oid} is not available.")
        code = offer["geolocation"].split(", ")[-1]
        fault = self.cloud.faults.check(code)
        if fault == "quota":
            return failure(
                402, "insufficient_credit", "Your account lacks credit to rent this instance."
            )
        if fault == "capacity":
            return failure(404, "no_such_ask", f"Instance type by id {oid} is not available.")
        login = body.get("image_login")
        if login is not None and (not isinstance(login, str) or "-u " not in login):
            return failure(400, "invalid_args", "image_login must be docker login arguments.")
        if "price" in body and float(body["price"]) < float(offer["min_bid"]):
            return failure(400, "bid_too_low", "Bid price is below the minimum bid.")
        keys = [k["public_key"] for k in self.keys.values()]
        with self._lock:
            iid = next(self._contracts)
            try:
                self.cloud.acquire(str(iid), keys)
            except NoFreeNode:
                return failure(404, "no_such_ask", f"Instance type by id {oid} is not available.")
            offer["rentable"] = False
            ports = {"22/tcp": []}
            for flag in body.get("env") or {}:
                if flag.startswith("-p "):
                    ports[f"{flag.split()[1].split(':')[0]}/tcp"] = []
            self.instances[iid] = {
                "id": iid, "label": body.get("label"), "offer_id": oid, "machine_id": offer["machine_id"],
                "image_uuid": body.get("image"), "disk_space": body.get("disk"),
                "gpu_name": offer["gpu_name"], "num_gpus": offer["num_gpus"],
                "geolocation": offer["geolocation"], "is_bid": "price" in body,
                "dph_total": body.get("price") or offer["dph_total"],
                "intended_status": "running", "_ports": ports,
            }  # fmt: skip
        return json_response({"success": True, "new_contract": iid})

    # -- instances ---------------------------------------------------------------------------

    def _view(self, inst: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in inst.items() if not k.startswith("_")}
        try:
            node = self.cloud.node(str(inst["id"]))
        except KeyError:
            node = None
        if node is None or node.state != "running":
            out["actual_status"] = "exited"
        elif node.booting:
            out["actual_status"] = "loading"
        else:
            out["actual_status"] = "running"
        if out["actual_status"] == "running" and node is not None:
            out["public_ipaddr"] = node.ip
            out["ssh_host"], out["ssh_port"] = "ssh5.vast.ai", 10000 + int(inst["id"]) % 1000
            out["ports"] = {
                name: [{"HostIp": "0.0.0.0", "HostPort": str(node.port if name == "22/tcp" else name.split("/")[0])}]
                for name in inst["_ports"]
            }  # fmt: skip
        else:
            out["public_ipaddr"], out["ports"] = None, {}
        return out

    def list_instances(self, req: Request) -> Response:
        with self._lock:
            return json_response({"instances": [self._view(i) for i in self.instances.values()]})

    def manage(self, req: Request) -> Response:
        self.changed_from.append(("manage", req.peer))
        inst = self.instances.get(int(req.params["id"]))
        if inst is None:
            return failure(404, "no_such_instance", "Instance not found.")
        state = (req.json() or {}).get("state")
        if state == "stopped":
            self.cloud.stop_instance(str(inst["id"]))
        elif state == "running":
            self.cloud.start_instance(str(inst["id"]))
        else:
            return failure(400, "invalid_args", "state must be running or stopped.")
        inst["intended_status"] = state
        return json_response({"success": True})

    def destroy(self, req: Request) -> Response:
        self.changed_from.append(("destroy", req.peer))
        with self._lock:
            inst = self.instances.pop(int(req.params["id"]), None)
        if inst is None:
            return failure(404, "no_such_instance", "Instance not found.")
        self.cloud.release(str(inst["id"]))
        self.offers[inst["offer_id"]]["rentable"] = True
        return json_response({"success": True})

    # -- SSH keys ---------------------------------------------------------------------------------

    def list_keys(self, req: Request) -> Response:
        return json_response(list(self.keys.values()))

    def add_key(self, req: Request) -> Response:
        public = str((req.json() or {}).get("ssh_key") or "").strip()
        if not public.startswith("ssh-"):
            return failure(400, "invalid_args", "ssh_key must be an OpenSSH public key.")
        kid = 300 + len(self.keys) + 1
        self.keys[kid] = {"id": kid, "public_key": public, "created_at": "2026-12-02T20:00:00"}
        return json_response({"success": True, "key": self.keys[kid]})

    def delete_key(self, req: Request) -> Response:
        if self.keys.pop(int(req.params["id"]), None) is None:
            return failure(404, "no_such_key", "SSH key not found.")
        return json_response({"success": True})


def write_catalog_without_bids(parent: Path) -> Path:
    """A ``vast`` catalog folder shaped like the public catalogs' rows: SpotPrice 0.00 (no
    bid prices), on the fake's RTX 4090 configuration in Sweden and the US."""
    folder = parent / "vast"
    folder.mkdir()
    (folder / "vms.csv").write_text(
        "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region\n"
        '1x-RTX_4090-8-32768,RTX4090,1,8,32.0,,0.37,0.00,"Somewhere, SE, EU"\n'
        '1x-RTX_4090-8-32768,RTX4090,1,8,32.0,,0.39,0.00,"Elsewhere, US, NA"\n'
    )
    return folder


__all__ = ["API_KEY", "FakeVastApi", "write_catalog_without_bids"]
