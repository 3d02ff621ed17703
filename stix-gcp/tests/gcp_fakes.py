"""A fake of the Compute Engine v1 REST API (and OAuth's token endpoint) whose instances are
harness nodes, for the GCP plugin's tests.

It follows https://cloud.google.com/compute/docs/reference/rest/v1 : ``instances``
(insert, get, list, aggregatedList, delete, stop, start), ``zoneOperations`` /
``globalOperations`` (get, wait), ``firewalls`` (insert, get, list, patch, delete),
``machineTypes.aggregatedList``, ``acceleratorTypes.aggregatedList``, ``zones.list`` and
``projects.get``. Resources and errors have the documented JSON shapes: an error reply is
``{"error": {"code", "message", "errors": [{"reason", "domain", "message"}]}}``; a failed
create returns a DONE operation with ``error.errors[].code`` (``ZONE_RESOURCE_POOL_EXHAUSTED``,
``QUOTA_EXCEEDED``) and ``httpErrorStatusCode``, as Compute Engine does. The harness's
fault injection decides capacity and quota; a Spot VM that is preempted is reported
``TERMINATED`` (its termination action is STOP). The real ``google-cloud-compute`` client
talks to it over HTTP through ``client_options.api_endpoint``.
"""

from __future__ import annotations

import itertools
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from harness.cloudnodes import CloudNodes, NoFreeNode
from harness.httpfake import FakeApi, Request, Response, json_response

PROJECT = "stix-test-project"
ZONES = {
    "us-central1": ("us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"),
    "us-east4": ("us-east4-a", "us-east4-b", "us-east4-c"),
    "us-west1": ("us-west1-a", "us-west1-b", "us-west1-c"),
    "europe-west4": ("europe-west4-a", "europe-west4-b", "europe-west4-c"),
}
# name -> (vCPUs, memory MB, built-in accelerators [(type, count)])
MACHINE_TYPES: dict[str, tuple[int, int, list[tuple[str, int]]]] = {
    "n2-standard-2": (2, 8192, []),
    "n2-standard-8": (8, 32768, []),
    "e2-standard-2": (2, 8192, []),
    "n1-standard-8": (8, 30720, []),
    "g2-standard-4": (4, 16384, [("nvidia-l4", 1)]),
    "a2-highgpu-1g": (12, 87040, [("nvidia-tesla-a100", 1)]),
}
ACCELERATOR_TYPES = {"nvidia-tesla-t4": 4, "nvidia-l4": 8, "nvidia-tesla-a100": 16}
API = "https://www.googleapis.com/compute/v1"
_P = r"/compute/v1/projects/(?P<project>[^/]+)"
_Z = _P + r"/zones/(?P<zone>[^/]+)"
_FILTER = re.compile(r'^\s*(?P<field>[\w.-]+)\s*(?P<op>=|eq)\s*"?(?P<value>[^"]*)"?\s*$')
_STATUS_NAMES = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}


def error_body(code: int, message: str, reason: str, domain: str = "global") -> dict[str, Any]:
    """The documented error payload of a Google REST API."""
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
            "status": _STATUS_NAMES.get(code, "ALREADY_EXISTS" if code == 409 else "UNKNOWN"),
        }
    }


def error(code: int, message: str, reason: str) -> Response:
    return json_response(error_body(code, message, reason), code)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000-00:00")


class FakeComputeApi(FakeApi):
    """Compute Engine v1 over HTTP, with harness nodes as instances. See the module docstring.

    :param cloud: the harness whose nodes back the instances and whose faults apply.
    """

    def __init__(self, cloud: CloudNodes) -> None:
        super().__init__()
        self.cloud = cloud
        self.instances: dict[tuple[str, str], dict[str, Any]] = {}  # (zone, name) -> resource
        self.firewalls: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.inserts: list[str] = []  # zones of every instance insert, in order
        self.forbidden = False  # answer every call with a permission error
        self._ids = itertools.count(1000)
        self._lock = threading.RLock()
        r = self.route
        r("POST", r"/token", self.token)
        r("GET", _P, self.get_project)
        r("GET", _P + r"/zones", self.list_zones)
        r("GET", _P + r"/aggregated/instances", self.aggregated_instances)
        r("GET", _Z + r"/instances", self.list_instances)
        r("POST", _Z + r"/instances", self.insert_instance)
        r("GET", _Z + r"/instances/(?P<name>[^/]+)", self.get_instance)
        r("DELETE", _Z + r"/instances/(?P<name>[^/]+)", self.delete_instance)
        r("POST", _Z + r"/instances/(?P<name>[^/]+)/stop", self.stop_instance)
        r("POST", _Z + r"/instances/(?P<name>[^/]+)/start", self.start_instance)
        r("GET", _Z + r"/operations/(?P<op>[^/]+)", self.get_operation)
        r("POST", _Z + r"/operations/(?P<op>[^/]+)/wait", self.get_operation)
        r("GET", _P + r"/global/operations/(?P<op>[^/]+)", self.get_operation)
        r("POST", _P + r"/global/operations/(?P<op>[^/]+)/wait", self.get_operation)
        r("GET", _P + r"/global/firewalls", self.list_firewalls)
        r("POST", _P + r"/global/firewalls", self.insert_firewall)
        r("GET", _P + r"/global/firewalls/(?P<name>[^/]+)", self.get_firewall)
        r("PATCH", _P + r"/global/firewalls/(?P<name>[^/]+)", self.patch_firewall)
        r("DELETE", _P + r"/global/firewalls/(?P<name>[^/]+)", self.delete_firewall)
        r("GET", _P + r"/aggregated/machineTypes", self.aggregated_machine_types)
        r("GET", _P + r"/aggregated/acceleratorTypes", self.aggregated_accelerator_types)

    # -- helpers ---------------------------------------------------------------------

    def _denied(self) -> Response | None:
        if self.forbidden:
            return error(403, "Required 'compute.instances.create' permission", "forbidden")
        return None

    def _operation(
        self,
        project: str,
        zone: str | None,
        kind: str,
        target: str,
        failure: tuple[int, str, str] | None = None,
    ) -> Response:
        name = f"operation-{next(self._ids)}"
        scope = f"{API}/projects/{project}" + (f"/zones/{zone}" if zone else "/global")
        op: dict[str, Any] = {
            "kind": "compute#operation",
            "id": str(next(self._ids)),
            "name": name,
            "operationType": kind,
            "targetLink": target,
            "status": "DONE",
            "progress": 100,
            "insertTime": now(),
            "selfLink": f"{scope}/operations/{name}",
        }
        if zone:
            op["zone"] = f"{API}/projects/{project}/zones/{zone}"
        if failure:
            status, code, message = failure
            op["error"] = {"errors": [{"code": code, "message": message}]}
            op["httpErrorStatusCode"] = status
            op["httpErrorMessage"] = {403: "FORBIDDEN", 503: "SERVICE UNAVAILABLE"}.get(
                status, "BAD REQUEST"
            )
        self.operations[name] = op
        return json_response(op)

    def view(self, inst: dict[str, Any]) -> dict[str, Any]:
        """The instance as the API shows it now (its status follows the backing node)."""
        out = dict(inst)
        try:
            held = self.cloud.node(inst["_node"])
        except KeyError:
            held = None
        if inst["_stopped"] or held is None or held.state in ("stopped", "preempted"):
            out["status"] = "TERMINATED"
            if held is not None and held.state == "preempted":
                out["statusMessage"] = "Instance was preempted."
        elif held.booting:
            out["status"] = "STAGING"
        else:
            out["status"] = "RUNNING"
        return {k: v for k, v in out.items() if not k.startswith("_")}

    @staticmethod
    def _matches(resource: dict[str, Any], text: str | None) -> bool:
        if not text:
            return True
        m = _FILTER.match(text)
        if m is None:
            raise ValueError(f"unsupported filter {text!r}")
        field, value = m.group("field"), m.group("value")
        if field.startswith("labels."):
            return (resource.get("labels") or {}).get(field[len("labels.") :]) == value
        return str(resource.get(field)) == value

    @staticmethod
    def node_id(zone: str, name: str) -> str:
        """The harness instance id backing instance ``name`` in ``zone``."""
        return f"gce:{zone}/{name}"

    # -- projects, zones, auth -------------------------------------------------------

    def token(self, req: Request) -> Response:
        """OAuth 2.0 token endpoint (refresh-token grant), the ADC file's ``token_uri``."""
        return json_response(
            {"access_token": "fake-access-token", "expires_in": 3600, "token_type": "Bearer"}
        )

    def get_project(self, req: Request) -> Response:
        denied = self._denied()
        if denied:
            return denied
        project = req.params["project"]
        if project != PROJECT:
            return error(404, f"The resource 'projects/{project}' was not found", "notFound")
        return json_response(
            {
                "kind": "compute#project",
                "id": "4242",
                "name": project,
                "selfLink": f"{API}/projects/{project}",
            }
        )

    def list_zones(self, req: Request) -> Response:
        items = [
            {
                "kind": "compute#zone",
                "name": z,
                "status": "UP",
                "region": f"{API}/projects/{PROJECT}/regions/{r}",
            }
            for r, zones in ZONES.items()
            for z in zones
        ]
        return json_response({"kind": "compute#zoneList", "items": items})

    # -- instances -------------------------------------------------------------------

    def aggregated_instances(self, req: Request) -> Response:
        denied = self._denied()
        if denied:
            return denied
        items: dict[str, Any] = {}
        with self._lock:
            for (zone, _name), inst in sorted(self.instances.items()):
                view = self.view(inst)
                if self._matches(view, req.arg("filter")):
                    items.setdefault(f"zones/{zone}", {"instances": []})["instances"].append(view)
        return json_response({"kind": "compute#instanceAggregatedList", "id": "a", "items": items})

    def list_instances(self, req: Request) -> Response:
        with self._lock:
            found = [
                self.view(i)
                for (z, _n), i in sorted(self.instances.items())
                if z == req.params["zone"]
            ]
        found = [i for i in found if self._matches(i, req.arg("filter"))]
        return json_response({"kind": "compute#instanceList", "items": found})

    def insert_instance(self, req: Request) -> Response:
        denied = self._denied()
        if denied:
            return denied
        project, zone = req.params["project"], req.params["zone"]
        body = req.json()
        name = body["name"]
        region = zone.rsplit("-", 1)[0]
        self.inserts.append(zone)
        target = f"{API}/projects/{project}/zones/{zone}/instances/{name}"
        machine = body.get("machineType", "").rsplit("/", 1)[-1]
        if zone not in ZONES.get(region, ()):
            return error(400, f"Invalid value for field 'zone': '{zone}'. Unknown zone.", "invalid")
        if machine not in MACHINE_TYPES:
            return error(
                400,
                f"Invalid value for field 'resource.machineType': '{body.get('machineType')}'. "
                f"Machine type with name '{machine}' does not exist in zone '{zone}'.",
                "invalid",
            )
        with self._lock:
            if (zone, name) in self.instances:
                return error(409, f"The resource '{target}' already exists", "alreadyExists")
            fault = self.cloud.faults.check(region, zone)
            if fault == "capacity":
                accels = body.get("guestAccelerators") or [{}]
                kind = accels[0].get("acceleratorType", "").rsplit("/", 1)[-1] or "compute"
                return self._operation(
                    project, zone, "insert", target,
                    (503, "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
                     f"The zone 'projects/{project}/zones/{zone}' does not have enough resources "
                     f"available to fulfill the request.  '(resource type:{kind})'."),
                )  # fmt: skip
            if fault == "quota":
                cpus = MACHINE_TYPES[machine][0]
                return self._operation(
                    project, zone, "insert", target,
                    (403, "QUOTA_EXCEEDED",
                     f"Quota 'CPUS' exceeded.  Limit: {max(cpus - 1, 0)}.0 in region {region}."),
                )  # fmt: skip
            keys = []
            for item in (body.get("metadata") or {}).get("items", []):
                if item.get("key") == "ssh-keys":
                    lines = item.get("value", "").splitlines()
                    keys += [line.split(":", 1)[1] for line in lines if ":" in line]
            try:
                held = self.cloud.acquire(self.node_id(zone, name), keys)
            except NoFreeNode:
                return self._operation(
                    project, zone, "insert", target,
                    (503, "ZONE_RESOURCE_POOL_EXHAUSTED",
                     f"The zone 'projects/{project}/zones/{zone}' does not have enough resources "
                     "available to fulfill the request. Try a different zone, or try again later."),
                )  # fmt: skip
            nic = dict((body.get("networkInterfaces") or [{}])[0], networkIP=held.ip, name="nic0")
            nic["accessConfigs"] = [dict(a, natIP=held.ip) for a in nic.get("accessConfigs", [])]
            self.instances[(zone, name)] = {
                **body,
                "kind": "compute#instance",
                "id": str(next(self._ids)),
                "zone": f"{API}/projects/{project}/zones/{zone}",
                "machineType": f"{API}/projects/{project}/zones/{zone}/machineTypes/{machine}",
                "networkInterfaces": [nic],
                "creationTimestamp": now(),
                "selfLink": target,
                "_node": self.node_id(zone, name),
                "_stopped": False,
            }
        return self._operation(project, zone, "insert", target)

    def _instance(self, req: Request) -> dict[str, Any] | Response:
        key = (req.params["zone"], req.params["name"])
        inst = self.instances.get(key)
        if inst is None:
            path = f"projects/{req.params['project']}/zones/{key[0]}/instances/{key[1]}"
            return error(404, f"The resource '{path}' was not found", "notFound")
        return inst

    def get_instance(self, req: Request) -> Response:
        inst = self._instance(req)
        return inst if isinstance(inst, Response) else json_response(self.view(inst))

    def delete_instance(self, req: Request) -> Response:
        with self._lock:
            inst = self._instance(req)
            if isinstance(inst, Response):
                return inst
            del self.instances[(req.params["zone"], req.params["name"])]
            self.cloud.release(inst["_node"])
        return self._operation(
            req.params["project"], req.params["zone"], "delete", inst["selfLink"]
        )

    def stop_instance(self, req: Request) -> Response:
        with self._lock:
            inst = self._instance(req)
            if isinstance(inst, Response):
                return inst
            if self.view(inst)["status"] != "TERMINATED":
                self.cloud.stop_instance(inst["_node"])
            inst["_stopped"] = True
        return self._operation(req.params["project"], req.params["zone"], "stop", inst["selfLink"])

    def start_instance(self, req: Request) -> Response:
        with self._lock:
            inst = self._instance(req)
            if isinstance(inst, Response):
                return inst
            if self.view(inst)["status"] == "TERMINATED":
                self.cloud.start_instance(inst["_node"])
            inst["_stopped"] = False
        return self._operation(req.params["project"], req.params["zone"], "start", inst["selfLink"])

    def preempt(self, name: str) -> None:
        """Compute Engine reclaims the Spot VM ``name`` (it then shows as TERMINATED)."""
        [zone] = [z for (z, n) in self.instances if n == name]
        self.cloud.preempt(self.node_id(zone, name))

    def get_operation(self, req: Request) -> Response:
        op = self.operations.get(req.params["op"])
        if op is None:
            return error(404, f"The resource '{req.params['op']}' was not found", "notFound")
        return json_response(op)

    # -- firewalls -------------------------------------------------------------------

    def list_firewalls(self, req: Request) -> Response:
        items = list(self.firewalls.values())
        return json_response({"kind": "compute#firewallList", "items": items})

    def insert_firewall(self, req: Request) -> Response:
        denied = self._denied()
        if denied:
            return denied
        body = req.json()
        link = f"{API}/projects/{req.params['project']}/global/firewalls/{body['name']}"
        if body["name"] in self.firewalls:
            return error(409, f"The resource '{link}' already exists", "alreadyExists")
        self.firewalls[body["name"]] = {
            **body,
            "kind": "compute#firewall",
            "selfLink": link,
            "id": str(next(self._ids)),
            "creationTimestamp": now(),
        }
        return self._operation(req.params["project"], None, "insert", link)

    def get_firewall(self, req: Request) -> Response:
        denied = self._denied()
        if denied:
            return denied
        rule = self.firewalls.get(req.params["name"])
        if rule is None:
            path = f"projects/{req.params['project']}/global/firewalls/{req.params['name']}"
            return error(404, f"The resource '{path}' was not found", "notFound")
        return json_response(rule)

    def patch_firewall(self, req: Request) -> Response:
        rule = self.firewalls.get(req.params["name"])
        if rule is None:
            return self.get_firewall(req)
        rule.update({k: v for k, v in req.json().items() if k != "name"})
        return self._operation(req.params["project"], None, "patch", rule["selfLink"])

    def delete_firewall(self, req: Request) -> Response:
        rule = self.firewalls.pop(req.params["name"], None)
        if rule is None:
            return self.get_firewall(req)
        return self._operation(req.params["project"], None, "delete", rule["selfLink"])

    # -- machine and accelerator types -------------------------------------------------

    def aggregated_machine_types(self, req: Request) -> Response:
        items: dict[str, Any] = {}
        for zones in ZONES.values():
            for zone in zones:
                found = []
                for name, (cpus, memory, accels) in MACHINE_TYPES.items():
                    mt = {
                        "kind": "compute#machineType",
                        "name": name,
                        "guestCpus": cpus,
                        "memoryMb": memory,
                        "zone": zone,
                        "isSharedCpu": False,
                        "accelerators": [
                            {"guestAcceleratorType": t, "guestAcceleratorCount": c}
                            for t, c in accels
                        ],
                    }
                    if self._matches(mt, req.arg("filter")):
                        found.append(mt)
                if found:
                    items[f"zones/{zone}"] = {"machineTypes": found}
        return json_response({"kind": "compute#machineTypeAggregatedList", "items": items})

    def aggregated_accelerator_types(self, req: Request) -> Response:
        items: dict[str, Any] = {}
        for zones in ZONES.values():
            for zone in zones:
                link = f"{API}/projects/{PROJECT}/zones/{zone}"
                items[f"zones/{zone}"] = {
                    "acceleratorTypes": [
                        {
                            "kind": "compute#acceleratorType",
                            "name": n,
                            "zone": link,
                            "maximumCardsPerInstance": m,
                        }
                        for n, m in ACCELERATOR_TYPES.items()
                    ]
                }
        return json_response({"kind": "compute#acceleratorTypeAggregatedList", "items": items})

    def leftovers(self) -> dict[str, list[str]]:
        """Instances and firewall rules that still exist (a leak once a test is over)."""
        found = {
            "instances": [n for (_z, n) in self.instances],
            "firewalls": list(self.firewalls),
        }
        return {k: v for k, v in found.items() if v}


__all__ = [
    "ACCELERATOR_TYPES",
    "MACHINE_TYPES",
    "PROJECT",
    "ZONES",
    "FakeComputeApi",
    "error_body",
]
