"""``FakeEc2NodesProxy``: moto's EC2 behind a proxy whose instances are harness sshd nodes.

On ``RunInstances`` (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RunInstances.html)
it first asks the harness's fault injection about the request's region and zone and
answers ``InsufficientInstanceCapacity`` / ``VcpuLimitExceeded`` as EC2 does; otherwise
moto creates the instances and each one gets a node that accepts the key pair's public
key (remembered from ``ImportKeyPair``). ``DescribeInstances`` replies carry the node's
address as the private and public IP. ``TerminateInstances``, ``StopInstances`` and
``StartInstances`` release, stop and start the nodes; a node still booting (a slow
start) shows as ``pending``. :meth:`preempt` reclaims a spot
instance the way EC2 does: the machine dies and the instance is terminated.
"""

from __future__ import annotations

import base64
import re
import sys
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

from aws_fakes import EC2_ERRORS, FakeCapacityProxy, _ec2_error, aws_client

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from harness.cloudnodes import CloudNodes, NoFreeNode

_REGION = re.compile(r"Credential=[^/]+/\d+/(?P<region>[a-z0-9-]+)/ec2/")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _namespace(root: ET.Element) -> str:
    return root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""


def _ids(form: dict[str, list[str]]) -> list[str]:
    return [v[0] for k, v in sorted(form.items()) if k.startswith("InstanceId.")]


class FakeEc2NodesProxy(FakeCapacityProxy):
    """See the module docstring. :param cloud: the harness that backs instances with nodes."""

    def __init__(self, upstream: str, cloud: CloudNodes) -> None:
        self.cloud = cloud
        self.key_material: dict[str, str] = {}
        self.nodes: dict[str, str] = {}  # instance id -> node address
        self._lock = threading.Lock()
        super().__init__(upstream, {})

    def _region(self, headers: dict[str, str]) -> str:
        match = _REGION.search(headers.get("Authorization", ""))
        return match.group("region") if match else "us-east-1"

    def _zone(self, region: str, form: dict[str, list[str]]) -> str | None:
        zone = (form.get("Placement.AvailabilityZone") or [None])[0]
        subnet = (form.get("SubnetId") or [None])[0]
        if zone or not subnet:
            return zone
        ec2 = aws_client(self.upstream, "ec2", region)
        found = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"]
        return found[0]["AvailabilityZone"] if found else None

    def before(
        self, form: dict[str, list[str]], headers: dict[str, str]
    ) -> tuple[int, bytes] | None:
        action = (form.get("Action") or [""])[0]
        if action == "ImportKeyPair":
            material = form["PublicKeyMaterial"][0]
            try:
                text = base64.b64decode(material, validate=True).decode()
            except ValueError:
                text = material
            self.key_material[form["KeyName"][0]] = text.strip()
        elif action == "RunInstances":
            region = self._region(headers)
            fault = self.cloud.faults.check(region, self._zone(region, form))
            if fault:
                code = (
                    "InsufficientInstanceCapacity" if fault == "capacity" else "VcpuLimitExceeded"
                )
                status, message = EC2_ERRORS[code]
                return status, _ec2_error(code, message)
            count = int((form.get("MinCount") or ["1"])[0])
            if len(self.cloud.assigned()) + count > len(self.cloud.nodes):
                status, message = EC2_ERRORS["InsufficientInstanceCapacity"]
                return status, _ec2_error("InsufficientInstanceCapacity", message)
        elif action == "TerminateInstances":
            for iid in _ids(form):
                self.cloud.release(iid)
                self.nodes.pop(iid, None)
        elif action == "StopInstances":
            for iid in _ids(form):
                if iid in self.nodes and self.cloud.node(iid).state == "running":
                    self.cloud.stop_instance(iid)
        elif action == "StartInstances":
            for iid in _ids(form):
                if iid in self.nodes and self.cloud.node(iid).state != "running":
                    self.cloud.start_instance(iid)
        return None

    def after(self, form: dict[str, list[str]], headers: dict[str, str], data: bytes) -> bytes:
        action = (form.get("Action") or [""])[0]
        if action == "RunInstances":
            key = self.key_material.get((form.get("KeyName") or [""])[0], "")
            root = ET.fromstring(data)
            for item in root.iter():
                if _local(item.tag) != "instanceId":
                    continue
                iid = item.text or ""
                with self._lock:
                    if iid in self.nodes:
                        continue
                    try:
                        self.nodes[iid] = self.cloud.acquire(iid, [key] if key else []).ip
                    except NoFreeNode:  # checked before forwarding; a race ends here
                        continue
        if action in ("RunInstances", "DescribeInstances") and self.nodes:
            return self._with_node_addresses(data)
        return data

    def _with_node_addresses(self, data: bytes) -> bytes:
        root = ET.fromstring(data)
        ns = _namespace(root)
        ET.register_namespace("", ns)
        q = f"{{{ns}}}" if ns else ""
        for item in root.iter(f"{q}item"):
            iid = item.find(f"{q}instanceId")
            if iid is None or iid.text not in self.nodes:
                continue
            address = self.nodes[iid.text]
            for tag in ("privateIpAddress", "ipAddress"):
                found = item.find(f"{q}{tag}")
                if found is None:
                    found = ET.SubElement(item, f"{q}{tag}")
                found.text = address
            state = item.find(f"{q}instanceState")
            booting = iid.text in self.cloud.assigned() and self.cloud.node(iid.text).booting
            if state is not None and booting:  # a slow start: pending until the node answers
                for field, value in (("code", "0"), ("name", "pending")):
                    element = state.find(f"{q}{field}")
                    if element is not None:
                        element.text = value
        return ET.tostring(root, xml_declaration=True, encoding="UTF-8")

    def preempt(self, instance_id: str, region: str = "us-east-1") -> None:
        """EC2 reclaims a spot instance: the machine dies, the instance is terminated."""
        self.cloud.preempt(instance_id)
        aws_client(self.upstream, "ec2", region).terminate_instances(InstanceIds=[instance_id])
        self.cloud.release(instance_id)
        self.nodes.pop(instance_id, None)


__all__ = ["FakeEc2NodesProxy"]
