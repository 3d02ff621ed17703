"""FakeRunpodApi: RunPod's GraphQL API on loopback, whose pods are harness nodes.

Follows https://docs.runpod.io/sdks/graphql/manage-pods and the schema at
https://graphql-spec.runpod.io/: ``POST /graphql`` with ``{"query", "variables"}``;
the operation is told by its root field (``podFindAndDeployOnDemand``,
``podRentInterruptable``, ``podStop``, ``podResume``, ``podBidResume``,
``podTerminate``, ``saveRegistryAuth``, ``deleteRegistryAuth``, ``myself { pods
containerRegistryCreds }``, ``gpuTypes``, ``dataCenters``) and its input comes from
``variables.input`` (``variables`` for ``deleteRegistryAuth``). Errors are GraphQL errors with HTTP 200
and RunPod's messages ("There are no longer any instances available with the
requested specifications..."); a bad key gets 401.

A pod is a container on a RunPod machine; here the "container" is a harness
node (a real sshd in its own namespace), so the image named in ``imageName`` is
recorded but not pulled. The ``PUBLIC_KEY`` env of a pod is installed as the
node's authorized key, as RunPod's images do. Faults injected on the harness by
data center turn deploys into capacity or balance errors.
"""

from __future__ import annotations

import itertools
import re
import threading
from typing import Any

from harness.cloudnodes import CloudNodes, NoFreeNode
from harness.httpfake import FakeApi, Request, Response, json_response

API_KEY = "rpa_FAKERUNPODKEY"
DATA_CENTERS = ("US-TX-3", "EU-RO-1", "CA-MTL-1")
NO_CAPACITY = (
    "There are no longer any instances available with the requested specifications. "
    "Please refresh and try again."
)
LOW_BALANCE = "Your balance is too low to deploy this pod."
GPU_TYPES = [
    # id, displayName, GB, secure, community, secure spot, community spot, vCPU, RAM
    ("NVIDIA GeForce RTX 4090", "RTX 4090", 24, 0.69, 0.34, 0.35, 0.20, 6, 41),
    ("NVIDIA H100 80GB HBM3", "H100 SXM", 80, 2.69, None, 1.75, None, 20, 125),
    ("NVIDIA RTX A6000", "RTX A6000", 48, 0.76, 0.49, 0.38, 0.25, 8, 50),
]
_ROOT = re.compile(r"^\s*(query|mutation)\b[^{]*\{\s*(\w+)", re.S)


def graphql_error(message: str, path: str) -> Response:
    return json_response({"errors": [{"message": message, "path": [path]}], "data": {path: None}})


class FakeRunpodApi(FakeApi):
    """One RunPod account; ``out_of_stock`` holds GPU type ids no data center has."""

    def __init__(self, cloud: CloudNodes, host: str = "127.0.0.1") -> None:
        super().__init__(host=host)
        self.cloud = cloud
        self.changed_from: list[tuple[str, str]] = []  # (operation, client address)
        self.pods: dict[str, dict[str, Any]] = {}
        self.deploys: list[tuple[str, dict[str, Any]]] = []
        self.out_of_stock: set[str] = set()
        # saved registry logins: id -> {id, name, username, password}
        self.registry_auths: dict[str, dict[str, str]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.route("POST", "/graphql", self.graphql)
        self.ops = {
            "myself": self.myself,
            "gpuTypes": self.gpu_types,
            "dataCenters": self.data_centers,
            "podFindAndDeployOnDemand": self.deploy,
            "podRentInterruptable": self.deploy,
            "podStop": self.stop_pod,
            "podResume": self.resume,
            "podBidResume": self.resume,
            "podTerminate": self.terminate,
            "saveRegistryAuth": self.save_auth,
            "deleteRegistryAuth": self.delete_auth,
        }

    @property
    def api_url(self) -> str:
        return f"{self.url}/graphql"

    def graphql(self, req: Request) -> Response:
        auth = req.headers.get("authorization", "")
        if auth != f"Bearer {API_KEY}" and req.arg("api_key") != API_KEY:
            return json_response({"errors": [{"message": "Unauthorized"}]}, status=401)
        body = req.json() or {}
        match = _ROOT.match(str(body.get("query") or ""))
        if match is None or match.group(2) not in self.ops:
            return json_response({"errors": [{"message": "Cannot parse the query"}]}, status=400)
        field = match.group(2)
        variables = body.get("variables") or {}
        if field in ("podStop", "podTerminate"):
            self.changed_from.append((field, req.peer))
        return self.ops[field](field, variables.get("input", variables))

    # -- reads -------------------------------------------------------------------------

    def _view(self, pod: dict[str, Any]) -> dict[str, Any]:
        out = dict(pod)
        out.pop("_public_key", None)
        try:
            node = self.cloud.node(pod["id"])
        except KeyError:
            node = None
        if node is not None and node.state == "preempted":
            pod["desiredStatus"] = out["desiredStatus"] = "EXITED"
        running = out["desiredStatus"] == "RUNNING" and node is not None and not node.booting
        ports = [
            {"ip": node.ip, "isIpPublic": True, "privatePort": int(p.split("/")[0]),
             "publicPort": node.port if p.startswith("22/") else int(p.split("/")[0]), "type": "tcp"}
            for p in str(pod["ports"]).split(",") if p
        ] if running and node is not None else []  # fmt: skip
        out["runtime"] = {"uptimeInSeconds": 1, "ports": ports} if running else None
        return out

    def myself(self, field: str, _: dict[str, Any]) -> Response:
        with self._lock:
            pods = [self._view(p) for p in self.pods.values()]
        return json_response(
            {"data": {"myself": {"id": "user_fake", "email": "dev@example.com", "pods": pods,
                                 "containerRegistryCreds": [
                                     {"id": a["id"], "name": a["name"]}
                                     for a in self.registry_auths.values()]}}}
        )  # fmt: skip

    def save_auth(self, field: str, spec: dict[str, Any]) -> Response:
        if not spec.get("name") or not spec.get("username") or not spec.get("password"):
            return graphql_error("name, username and password are required.", field)
        if any(a["name"] == spec["name"] for a in self.registry_auths.values()):
            return graphql_error("A registry auth with this name already exists.", field)
        rid = f"auth{next(self._ids):04d}"
        self.registry_auths[rid] = {
            "id": rid,
            **{k: str(spec[k]) for k in ("name", "username", "password")},
        }
        return json_response({"data": {field: {"id": rid, "name": spec["name"]}}})

    def delete_auth(self, field: str, spec: dict[str, Any]) -> Response:
        if self.registry_auths.pop(str(spec.get("id")), None) is None:
            return graphql_error("Registry auth not found.", field)
        return json_response({"data": {field: None}})

    def gpu_types(self, field: str, _: dict[str, Any]) -> Response:
        out = [
            {"id": gid, "displayName": name, "memoryInGb": gb, "maxGpuCount": 8,
             "secureCloud": True, "communityCloud": comm is not None,
             "securePrice": sec, "communityPrice": comm, "secureSpotPrice": sspot,
             "communitySpotPrice": cspot, "lowestPrice": {"minVcpu": cpu, "minMemory": ram}}
            for gid, name, gb, sec, comm, sspot, cspot, cpu, ram in GPU_TYPES
        ]  # fmt: skip
        return json_response({"data": {"gpuTypes": out}})

    def data_centers(self, field: str, _: dict[str, Any]) -> Response:
        centers = [
            {"id": dc, "name": dc, "location": dc.split("-")[0],
             "gpuAvailability": [
                 {"gpuTypeId": g[0], "available": g[0] not in self.out_of_stock,
                  "stockStatus": None if g[0] in self.out_of_stock else "High"}
                 for g in GPU_TYPES]}
            for dc in DATA_CENTERS
        ]  # fmt: skip
        return json_response({"data": {"dataCenters": centers}})

    # -- pod life cycle ------------------------------------------------------------------

    def deploy(self, field: str, spec: dict[str, Any]) -> Response:
        self.deploys.append((field, spec))
        center, gpu = spec.get("dataCenterId"), spec.get("gpuTypeId")
        if center not in DATA_CENTERS or gpu not in {g[0] for g in GPU_TYPES}:
            return graphql_error("Invalid data center or GPU type.", field)
        if field == "podRentInterruptable" and not spec.get("bidPerGpu"):
            return graphql_error("bidPerGpu is required for interruptible pods.", field)
        fault = self.cloud.faults.check(center)
        if fault == "quota":
            return graphql_error(LOW_BALANCE, field)
        if fault == "capacity" or gpu in self.out_of_stock:
            return graphql_error(NO_CAPACITY, field)
        auth = spec.get("containerRegistryAuthId")
        if auth is not None and auth not in self.registry_auths:
            return graphql_error("Registry auth not found.", field)
        keys = [e["value"] for e in spec.get("env") or [] if e.get("key") == "PUBLIC_KEY"]
        with self._lock:
            pid = f"fk{next(self._ids):04d}pod"
            try:
                self.cloud.acquire(pid, keys)
            except NoFreeNode:
                return graphql_error(NO_CAPACITY, field)
            self.pods[pid] = {
                "id": pid,
                "name": spec.get("name"),
                "desiredStatus": "RUNNING",
                "podType": "INTERRUPTABLE" if field == "podRentInterruptable" else "RESERVED",
                "imageName": spec.get("imageName"),
                "gpuCount": spec.get("gpuCount"),
                "costPerHr": float(spec.get("bidPerGpu") or 1.0) * int(spec.get("gpuCount") or 1),
                "ports": spec.get("ports") or "",
                "machine": {"dataCenterId": center, "gpuDisplayName": gpu},
            }
        return json_response(
            {"data": {field: {"id": pid, "name": spec.get("name"), "desiredStatus": "RUNNING"}}}
        )

    def _pod(self, field: str, spec: dict[str, Any]) -> dict[str, Any] | Response:
        pod = self.pods.get(str(spec.get("podId")))
        if pod is None:
            return graphql_error("Pod not found.", field)
        return pod

    def stop_pod(self, field: str, spec: dict[str, Any]) -> Response:
        pod = self._pod(field, spec)
        if isinstance(pod, Response):
            return pod
        self.cloud.stop_instance(pod["id"])
        pod["desiredStatus"] = "EXITED"
        return json_response({"data": {field: {"id": pod["id"], "desiredStatus": "EXITED"}}})

    def resume(self, field: str, spec: dict[str, Any]) -> Response:
        pod = self._pod(field, spec)
        if isinstance(pod, Response):
            return pod
        if (field == "podBidResume") != (pod["podType"] == "INTERRUPTABLE"):
            return graphql_error(
                "Use podBidResume for interruptible pods, podResume otherwise.", field
            )
        self.cloud.start_instance(pod["id"])
        pod["desiredStatus"] = "RUNNING"
        return json_response({"data": {field: {"id": pod["id"], "desiredStatus": "RUNNING"}}})

    def terminate(self, field: str, spec: dict[str, Any]) -> Response:
        pod = self._pod(field, spec)
        if isinstance(pod, Response):
            return pod
        with self._lock:
            self.pods.pop(pod["id"], None)
        self.cloud.release(pod["id"])
        return json_response({"data": {field: None}})


__all__ = ["API_KEY", "DATA_CENTERS", "FakeRunpodApi"]
