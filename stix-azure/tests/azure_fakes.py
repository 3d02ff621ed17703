"""A fake of Azure Resource Manager (ARM) for the tests: resource groups, network, VMs, SKUs.

``FakeArmApi`` serves HTTPS (azure-core refuses bearer tokens over plain HTTP) and
follows the documented request and response shapes, so the real ``azure-mgmt-*``
clients talk to it unchanged:

- resource groups: https://learn.microsoft.com/rest/api/resources/resource-groups
- long-running operations (``Azure-AsyncOperation`` / ``Location`` polling):
  https://learn.microsoft.com/azure/azure-resource-manager/management/async-operations
- network: https://learn.microsoft.com/rest/api/virtualnetwork/ (virtual-networks,
  network-security-groups, public-ip-addresses, network-interfaces)
- virtual machines: https://learn.microsoft.com/rest/api/compute/virtual-machines
  (create-or-update, instance-view, deallocate, start) and
  https://learn.microsoft.com/rest/api/compute/resource-skus/list
- error codes: https://learn.microsoft.com/troubleshoot/azure/virtual-machines/windows/
  allocation-failure and .../error-messages (SkuNotAvailable, OperationNotAllowed)

Each VM is backed by a harness node (``CloudNodes.acquire``); its NIC and public IP get
the node's address. Faults injected on the harness (``stockout``/``over_quota`` per
region) come back as the error Azure documents: ``capacity_code`` chooses which
(``SkuNotAvailable`` is synchronous, ``AllocationFailed`` and friends fail the
long-running operation); quota is ``OperationNotAllowed`` on regional cores. A node
preempted on the harness is evicted per the VM's ``evictionPolicy`` (Delete removes the
VM, its disk, NIC and IP; Deallocate leaves it deallocated).
"""

from __future__ import annotations

import itertools
import re
import threading
from typing import Any

from harness.httpfake import FakeApi, Request, Response, json_response

SUBSCRIPTION = "00000000-1111-2222-3333-444444444444"
TENANT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
TOKEN_HEADER = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"  # {"alg":"none","typ":"JWT"}

_SUB = r"/subscriptions/(?P<sub>[^/]+)"
_RG = _SUB + r"/resource[gG]roups/(?P<rg>[^/]+)"
_PROVIDER = _RG + r"/providers/(?P<ns>Microsoft\.(?:Network|Compute))/(?P<type>[A-Za-z]+)"
ASYNC_CAPACITY = {
    "AllocationFailed": "Allocation failed. We do not have sufficient capacity for the requested "
    "VM size in this region. Read more about improving likelihood of allocation success at "
    "http://aka.ms/allocation-guidance",
    "ZonalAllocationFailed": "Allocation failed. We do not have sufficient capacity for the "
    "requested VM size in this zone.",
    "OverconstrainedAllocationRequest": "Allocation failed. VM(s) with the following constraints "
    "cannot be allocated, because the condition is too restrictive.",
}


def _error(status: int, code: str, message: str) -> Response:
    return json_response({"error": {"code": code, "message": message}}, status=status)


def _no_group(req: Request) -> Response:
    return _error(
        404, "ResourceGroupNotFound", f"Resource group '{req.params['rg']}' could not be found."
    )


class FakeArmApi(FakeApi):
    """Resource Manager for one subscription; VMs are harness nodes (see the module docstring)."""

    def __init__(self, cloud: Any, token: str, sizes: dict[str, dict[str, Any]] | None = None):
        super().__init__(tls=True)
        self.cloud = cloud
        self.token = token
        self.subscription = SUBSCRIPTION
        self.capacity_code = "AllocationFailed"
        self.capacity_codes: dict[str, str] = {}  # per region, over capacity_code
        self.forbidden = False  # the identity has no role on the subscription
        self.polls = 1  # how many times an operation answers InProgress before it ends
        # whole seconds, as the SDK reads it; "0" lets the client use its own polling interval
        self.retry_after = "0"
        self.sizes = sizes or {"Standard_D2s_v5": {"vCPUs": 2, "MemoryGB": 8}}
        self.regions = ("eastus", "westus2", "westeurope")
        self.groups: dict[str, dict[str, Any]] = {}  # lower-case name -> group
        self.resources: dict[str, dict[str, Any]] = {}  # lower-case id -> resource JSON
        self.operations: dict[str, dict[str, Any]] = {}
        self.vm_bodies: list[dict[str, Any]] = []  # every VM create request, for assertions
        self.lock = threading.RLock()
        self._ids = itertools.count(1)
        self.route("HEAD", _RG, self.group_exists)
        self.route("GET", _RG, self.get_group)
        self.route("PUT", _RG, self.put_group)
        self.route("DELETE", _RG, self.delete_group)
        self.route("GET", _SUB + r"/resource[gG]roups", self.list_groups)
        self.route(
            "GET",
            _SUB + r"/providers/[^/]+/locations/[^/]+/operations/(?P<op>[^/]+)",
            self.operation_status,
        )
        self.route("GET", _SUB + r"/operationresults/(?P<op>[^/]+)", self.operation_result)
        self.route("GET", _SUB + r"/providers/Microsoft.Compute/skus", self.list_skus)
        self.route("GET", _PROVIDER, self.list_resources)
        self.route("GET", _PROVIDER + r"/(?P<name>[^/]+)", self.get_resource)
        self.route("PUT", _PROVIDER + r"/(?P<name>[^/]+)", self.put_resource)
        self.route("DELETE", _PROVIDER + r"/(?P<name>[^/]+)", self.delete_vm)
        self.route("GET", _PROVIDER + r"/(?P<name>[^/]+)/instanceView", self.instance_view)
        self.route(
            "POST",
            _PROVIDER + r"/(?P<name>[^/]+)/(?P<action>deallocate|start|powerOff)",
            self.vm_action,
        )

    # -- plumbing ------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _error(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing or invalid.",
            )
        sub = re.match(r"/subscriptions/([^/]+)", request.path)
        if sub and sub.group(1) != self.subscription:
            return _error(
                404,
                "SubscriptionNotFound",
                f"The subscription '{sub.group(1)}' could not be found.",
            )
        if self.forbidden and sub:
            action = "write" if request.method in ("PUT", "POST", "DELETE") else "read"
            return _error(
                403,
                "AuthorizationFailed",
                "The client 'alice' with object id 'oid' does not have authorization to "
                f"perform action 'Microsoft.Resources/subscriptions/resourcegroups/{action}' "
                f"over scope '/subscriptions/{self.subscription}' or the scope is invalid.",
            )
        with self.lock:
            self._evictions()
            return super().dispatch(request)

    def _op(
        self, kind: str, finish: Any, region: str = "eastus", location: bool = True
    ) -> dict[str, str]:
        """Register an operation ending with ``finish()`` (an error dict or ``None``).

        Creates answer with ``Azure-AsyncOperation`` only; deletes and actions also
        give a ``Location`` to poll, as Resource Manager does.
        """
        op = f"op-{next(self._ids)}"
        self.operations[op] = {"left": self.polls, "finish": finish, "error": None, "done": False}
        base = f"{self.url}/subscriptions/{self.subscription}"
        headers = {
            "Azure-AsyncOperation": f"{base}/providers/Microsoft.{kind}/locations/{region}"
            f"/operations/{op}?api-version=2024-01-01",
            "Retry-After": self.retry_after,
        }
        if location:
            headers["Location"] = f"{base}/operationresults/{op}?api-version=2024-01-01"
        return headers

    def _advance(self, op_id: str) -> dict[str, Any] | None:
        op = self.operations.get(op_id)
        if op is None:
            return None
        if not op["done"]:
            if op["left"] > 0:
                op["left"] -= 1
            else:
                op["done"] = True
                op["error"] = op["finish"]()
        return op

    def operation_status(self, req: Request) -> Response:
        op = self._advance(req.params["op"])
        if op is None:
            return _error(404, "NotFound", "operation not found")
        if not op["done"]:
            return json_response(
                {"name": req.params["op"], "status": "InProgress"},
                headers={"Retry-After": self.retry_after},
            )
        if op["error"]:
            return json_response(
                {"name": req.params["op"], "status": "Failed", "error": op["error"]}
            )
        return json_response({"name": req.params["op"], "status": "Succeeded"})

    def operation_result(self, req: Request) -> Response:
        op = self._advance(req.params["op"])
        if op is None:
            return _error(404, "NotFound", "operation not found")
        if not op["done"]:
            return Response(
                202,
                b"",
                {
                    "Location": f"{self.url}{req.path}?api-version=x",
                    "Retry-After": self.retry_after,
                },
            )
        if op["error"]:
            return json_response({"error": op["error"]}, status=409)
        return Response(204, b"", {})

    def _id(self, req: Request, name: str | None = None) -> str:
        p = req.params
        return (
            f"/subscriptions/{p['sub']}/resourceGroups/{p['rg']}/providers/{p['ns']}/"
            f"{p['type']}/{p['name'] if name is None else name}"
        )

    def group_of(self, req: Request) -> dict[str, Any] | None:
        return self.groups.get(req.params["rg"].lower())

    # -- resource groups ----------------------------------------------------------------

    def group_exists(self, req: Request) -> Response:
        return Response(204 if self.group_of(req) else 404, b"", {})

    def _group_json(self, group: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f"/subscriptions/{self.subscription}/resourceGroups/{group['name']}",
            "name": group["name"],
            "type": "Microsoft.Resources/resourceGroups",
            "location": group["location"],
            "tags": group["tags"],
            "properties": {"provisioningState": group["state"]},
        }

    def get_group(self, req: Request) -> Response:
        group = self.group_of(req)
        if group is None:
            return _no_group(req)
        return json_response(self._group_json(group))

    def put_group(self, req: Request) -> Response:
        body = req.json() or {}
        if body.get("location") not in self.regions:
            return _error(
                400,
                "LocationNotAvailableForResourceGroup",
                f"The provided location '{body.get('location')}' is not available "
                "for resource group.",
            )
        existing = self.group_of(req)
        group = existing or {"name": req.params["rg"], "location": body["location"]}
        group.update(tags=dict(body.get("tags") or {}), state="Succeeded")
        self.groups[req.params["rg"].lower()] = group
        return json_response(self._group_json(group), status=200 if existing else 201)

    def list_groups(self, req: Request) -> Response:
        found = list(self.groups.values())
        wanted = re.match(r"tagName eq '([^']+)' and tagValue eq '([^']+)'", req.arg("$filter", ""))
        if wanted:
            found = [g for g in found if g["tags"].get(wanted.group(1)) == wanted.group(2)]
        top = int(req.arg("$top") or len(found) or 1)
        return json_response({"value": [self._group_json(g) for g in found[:top]]})

    def delete_group(self, req: Request) -> Response:
        group = self.group_of(req)
        if group is None:
            return Response(204, b"", {})
        group["state"] = "Deleting"
        name = req.params["rg"].lower()

        def finish() -> None:
            prefix = f"/subscriptions/{self.subscription}/resourcegroups/{name}/".lower()
            for rid in [r for r in self.resources if r.startswith(prefix)]:
                self._drop(rid)
            self.groups.pop(name, None)
            return None

        return Response(
            202,
            b"",
            {k: v for k, v in self._op("Resources", finish).items() if k != "Azure-AsyncOperation"},
        )

    def _drop(self, rid: str) -> None:
        res = self.resources.pop(rid, None)
        if res is not None and res["type"] == "Microsoft.Compute/virtualMachines":
            self.cloud.release(rid)

    # -- generic provider resources -----------------------------------------------------

    def list_resources(self, req: Request) -> Response:
        if self.group_of(req) is None:
            return _no_group(req)
        prefix = self._id(req, "").lower()
        return json_response(
            {"value": [r for k, r in self.resources.items() if k.startswith(prefix)]}
        )

    def get_resource(self, req: Request) -> Response:
        res = self.resources.get(self._id(req).lower())
        if res is None:
            return _error(
                404,
                "ResourceNotFound",
                f"The Resource '{req.params['ns']}/{req.params['type']}/"
                f"{req.params['name']}' under resource group '{req.params['rg']}' "
                "was not found.",
            )
        return json_response(res)

    def put_resource(self, req: Request) -> Response:
        group = self.group_of(req)
        if group is None:
            return _no_group(req)
        body = req.json() or {}
        rid = self._id(req)
        kind = f"{req.params['ns']}/{req.params['type']}"
        existing = self.resources.get(rid.lower())
        res = {
            "id": rid,
            "name": req.params["name"],
            "type": kind,
            "location": body.get("location", group["location"]),
            "tags": body.get("tags") or {},
            **{k: v for k, v in body.items() if k in ("sku", "zones", "etag")},
            "properties": dict(body.get("properties") or {}),
        }
        if kind == "Microsoft.Compute/virtualMachines":
            return self._put_vm(req, rid, res, existing)
        self._fill(kind, rid, res)
        res["properties"]["provisioningState"] = "Updating"
        self.resources[rid.lower()] = res

        def finish() -> None:
            res["properties"]["provisioningState"] = "Succeeded"
            return None

        return json_response(
            res,
            status=200 if existing else 201,
            headers=self._op(
                req.params["ns"].split(".")[1], finish, res["location"], location=False
            ),
        )

    def _fill(self, kind: str, rid: str, res: dict[str, Any]) -> None:
        """Fields Azure adds: ids of subnets, rules and IP configurations; allocated addresses."""
        props = res["properties"]
        for key in ("subnets", "securityRules", "ipConfigurations"):
            for child in props.get(key) or []:
                child["id"] = f"{rid}/{key}/{child['name']}"
                child.setdefault("properties", {})["provisioningState"] = "Succeeded"
        if kind == "Microsoft.Network/publicIPAddresses":
            props.setdefault("ipAddress", None)  # set when a VM attaches (the node's address)

    # -- virtual machines ---------------------------------------------------------------

    def _put_vm(self, req: Request, rid: str, res: dict[str, Any], existing: Any) -> Response:
        props = res["properties"]
        self.vm_bodies.append(req.json())
        size = props.get("hardwareProfile", {}).get("vmSize")
        region = res["location"]
        if size not in self.sizes:
            return _error(
                409,
                "SkuNotAvailable",
                f"The requested VM size '{size}' is not available in location '{region}'.",
            )
        if existing is not None:
            return _error(409, "OperationNotAllowed", "changing an existing VM is not modelled")
        fault = self.cloud.faults.check(region)
        capacity_code = self.capacity_codes.get(region, self.capacity_code)
        if fault == "quota":
            cores = self.sizes[size]["vCPUs"]
            return _error(
                409,
                "OperationNotAllowed",
                "Operation could not be completed as it results in exceeding approved "
                f"Total Regional Cores quota. Additional details - Deployment Model: "
                f"Resource Manager, Location: {region}, Current Limit: 0, Current "
                f"Usage: 0, Additional Required: {cores}, (Minimum) New Limit "
                f"Required: {cores}.",
            )
        if fault == "capacity" and capacity_code == "SkuNotAvailable":
            return _error(
                409,
                "SkuNotAvailable",
                f"The requested VM size for resource 'Following SKUs have failed for "
                f"Capacity Restrictions: {size}' is currently not available in location "
                f"'{region}'. Please try another size or deploy to a different location "
                "or zones. See https://aka.ms/azureskunotavailable for details.",
            )
        props["provisioningState"] = "Creating"
        props["vmId"] = f"vm-{next(self._ids)}"
        res["power"] = "starting"
        self.resources[rid.lower()] = res
        keys = [
            k["keyData"]
            for k in props.get("osProfile", {})
            .get("linuxConfiguration", {})
            .get("ssh", {})
            .get("publicKeys", [])
        ]

        def finish() -> dict[str, str] | None:
            from harness.cloudnodes import NoFreeNode

            code = capacity_code if fault == "capacity" else None
            node = None
            if code is None:
                try:
                    node = self.cloud.acquire(rid.lower(), keys)
                except NoFreeNode:
                    code = "AllocationFailed"
            if node is None:
                props["provisioningState"] = "Failed"
                res["power"] = None
                return {
                    "code": code or "AllocationFailed",
                    "message": ASYNC_CAPACITY.get(code or "", ASYNC_CAPACITY["AllocationFailed"]),
                }
            self._attach(props, node.ip, region)
            props["provisioningState"] = "Succeeded"
            res["power"] = "running"
            return None

        visible = {k: v for k, v in res.items() if k != "power"}
        return json_response(
            visible, status=201, headers=self._op("Compute", finish, region, location=False)
        )

    def _attach(self, props: dict[str, Any], ip: str, region: str) -> None:
        """The VM's NIC gets the node's address as private IP, its public IP the same address."""
        disk = props["storageProfile"]["osDisk"]
        sub_rg = props["networkProfile"]["networkInterfaces"][0]["id"].split("/providers/")[0]
        disk_id = f"{sub_rg}/providers/Microsoft.Compute/disks/{disk['name']}"
        self.resources[disk_id.lower()] = {
            "id": disk_id,
            "name": disk["name"],
            "type": "Microsoft.Compute/disks",
            "location": region,
            "tags": {},
            "properties": {"diskSizeGB": disk.get("diskSizeGB"), "provisioningState": "Succeeded"},
            "sku": {"name": disk.get("managedDisk", {}).get("storageAccountType")},
        }
        disk.setdefault("managedDisk", {})["id"] = disk_id
        for ref in props["networkProfile"]["networkInterfaces"]:
            nic = self.resources.get(ref["id"].lower())
            if nic is None:
                continue
            nic["properties"]["virtualMachine"] = {"id": ref["id"]}
            for config in nic["properties"].get("ipConfigurations") or []:
                cprops = config["properties"]
                cprops["privateIPAddress"] = ip
                pip = self.resources.get(
                    (cprops.get("publicIPAddress") or {}).get("id", "").lower()
                )
                if pip is not None:
                    pip["properties"]["ipAddress"] = ip

    def _vm(self, req: Request) -> dict[str, Any] | None:
        return self.resources.get(self._id(req).lower())

    def instance_view(self, req: Request) -> Response:
        vm = self._vm(req)
        if vm is None:
            return _error(404, "ResourceNotFound", f"VM '{req.params['name']}' was not found.")
        state = vm["properties"]["provisioningState"].lower()
        statuses = [{"code": f"ProvisioningState/{state}", "level": "Info"}]
        if vm.get("power"):
            statuses.append({"code": f"PowerState/{vm['power']}", "level": "Info"})
        return json_response({"computerName": req.params["name"], "statuses": statuses})

    def vm_action(self, req: Request) -> Response:
        vm = self._vm(req)
        if vm is None:
            return _error(404, "ResourceNotFound", f"VM '{req.params['name']}' was not found.")
        rid = vm["id"].lower()
        action = req.params["action"]
        if action == "start":
            vm["power"] = "starting"

            def finish() -> None:
                self.cloud.start_instance(rid)
                vm["power"] = "running"
                return None
        else:
            vm["power"] = "deallocating" if action == "deallocate" else "stopping"

            def finish() -> None:
                if self.cloud.node(rid).state == "running":
                    self.cloud.stop_instance(rid)
                vm["power"] = "deallocated" if action == "deallocate" else "stopped"
                return None

        return Response(202, b"", self._op("Compute", finish, vm["location"]))

    def _evictions(self) -> None:
        """Spot VMs whose node was preempted on the harness are evicted per their policy."""
        for rid, res in list(self.resources.items()):
            if res["type"] != "Microsoft.Compute/virtualMachines" or res.get("power") != "running":
                continue
            try:
                held = self.cloud.node(rid)
            except KeyError:
                continue
            if held.state != "preempted":
                continue
            if res["properties"].get("evictionPolicy") == "Deallocate":
                res["power"] = "deallocated"
                continue
            self._delete_vm(rid)  # Delete: the VM goes, and with it its disk, NIC and IP

    def _delete_vm(self, rid: str) -> None:
        """The VM and what it was created to delete with it (``deleteOption: Delete``)."""
        res = self.resources.get(rid)
        if res is None:
            return
        self._drop(rid)
        net = res["properties"]["networkProfile"]["networkInterfaces"]
        disk = res["properties"]["storageProfile"]["osDisk"].get("managedDisk", {}).get("id")
        for ref in [*(n["id"] for n in net), disk]:
            gone = self.resources.pop(str(ref).lower(), None)
            for config in (gone or {}).get("properties", {}).get("ipConfigurations") or []:
                pip = (config["properties"].get("publicIPAddress") or {}).get("id", "")
                if (config["properties"].get("publicIPAddress") or {}).get("properties", {}).get(
                    "deleteOption"
                ) == "Delete":
                    self.resources.pop(pip.lower(), None)

    def delete_vm(self, req: Request) -> Response:
        vm = self._vm(req)
        if vm is None:
            return Response(204, b"", {})
        vm["properties"]["provisioningState"] = "Deleting"
        rid = vm["id"].lower()

        def finish() -> None:
            self._delete_vm(rid)
            return None

        return Response(202, b"", self._op("Compute", finish, vm["location"]))

    # -- SKUs ----------------------------------------------------------------------------

    def list_skus(self, req: Request) -> Response:
        """``GET /providers/Microsoft.Compute/skus`` (see :func:`azure_fake_prices.sku_list`)."""
        from azure_fake_prices import sku_list

        return json_response({"value": sku_list(self.sizes, self.regions)})

    # -- test-side views -----------------------------------------------------------------

    def group_names(self) -> list[str]:
        with self.lock:
            return sorted(g["name"] for g in self.groups.values())

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.resources.values() if r["type"] == kind]

    def reset(self) -> None:
        with self.lock:
            for rid in list(self.resources):
                self._drop(rid)
            self.groups.clear()
            self.operations.clear()
            self.vm_bodies.clear()
            self.capacity_code = "AllocationFailed"
            self.capacity_codes.clear()
            self.forbidden = False


__all__ = ["SUBSCRIPTION", "TENANT", "TOKEN_HEADER", "FakeArmApi"]
