"""Single-host TPU VMs (``tpu-v5e-8``, ``tpu-v4-8``...) through the Cloud TPU API v2 (REST).

A TPU VM is one node: created with ``nodes.create`` (nodeId = the head's name),
read with ``nodes.get``, removed with ``nodes.delete``. A marker under
``$STIX_HOME/gcp/tpu/`` says which clusters are TPU VMs, so the other verbs know
where to look without asking the API. Multi-host slices are refused clearly.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stix.errors import ClusterError, ProvisionError
from stix.interfaces import ClusterInfo, InstanceInfo, ProvisionConfig, ProvisionRecord

from stix_gcp import machines
from stix_gcp.session import TPU_URL, api_url, project_id, rest_session

# STIX generation name -> (accelerator type prefix, default runtime, chips per host).
GENERATIONS = {
    "v2": ("v2", "tpu-ubuntu2204-base", 8),
    "v3": ("v3", "tpu-ubuntu2204-base", 8),
    "v4": ("v4", "tpu-ubuntu2204-base", 8),
    "v5e": ("v5litepod", "v2-alpha-tpuv5-lite", 8),
    "v5litepod": ("v5litepod", "v2-alpha-tpuv5-lite", 8),
    "v5p": ("v5p", "v2-alpha-tpuv5", 8),
    "v6e": ("v6e", "v2-alpha-tpuv6e", 8),
}
# google.rpc.Code numbers seen in TPU operation errors -> the names failover reads.
GRPC_CODES = {
    3: "INVALID_ARGUMENT",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    16: "UNAUTHENTICATED",
}
_NAME = re.compile(r"^tpu-([a-z0-9]+)-(\d+)$")
STATUS = {
    "READY": "UP",
    "CREATING": "INIT",
    "STARTING": "INIT",
    "RESTARTING": "INIT",
    "REPAIRING": "INIT",
    "STOPPING": "STOPPED",
    "STOPPED": "STOPPED",
}


def _marker(cluster_name_on_cloud: str) -> Path:
    from stix.config import stix_home

    return stix_home() / "gcp" / "tpu" / cluster_name_on_cloud


def is_tpu(resources: Any) -> bool:
    wanted = getattr(resources, "accelerators", None) or {}
    return any(str(n).lower().startswith("tpu-") for n in wanted)


def owns(cluster_name_on_cloud: str) -> bool:
    """Whether the cluster is a TPU VM made from this machine."""
    return _marker(cluster_name_on_cloud).exists()


def accelerator_type(resources: Any) -> tuple[str, str]:
    """``(accelerator type, runtime version)`` for a ``tpu-<gen>-<n>`` request."""
    name = next(iter(resources.accelerators)).lower()
    match = _NAME.match(name)
    if not match or match.group(1) not in GENERATIONS:
        raise ProvisionError(f"gcp: unknown TPU {name!r} (e.g. tpu-v5e-8, tpu-v4-8)", scope="abort")
    prefix, runtime, per_host = GENERATIONS[match.group(1)]
    size = int(match.group(2))
    if size > per_host:
        raise ProvisionError(
            f"gcp: {name} is a multi-host TPU slice; stix runs single-host slices (up to -{per_host})",
            scope="abort",
        )
    args = getattr(resources, "accelerator_args", None) or {}
    return f"{prefix}-{size}", str(args.get("runtime_version") or runtime)


def _base(zone: str) -> str:
    return f"{api_url(TPU_URL)}/v2/projects/{project_id()}/locations/{zone}"


def _call(method: str, url: str, what: str, **kw: Any) -> dict[str, Any]:
    from google.api_core import exceptions as gexc

    from stix_gcp.errors import classify

    reply = rest_session().request(method, url, timeout=60, **kw)
    if reply.status_code >= 400:
        raise classify(gexc.from_http_response(reply), what)
    return reply.json() if reply.content else {}


def _wait_op(op: dict[str, Any], what: str, timeout: float = 600.0) -> None:
    """Poll a TPU long-running operation; its ``error`` (a google.rpc.Status) becomes failover's."""
    from stix_gcp.errors import decide

    deadline = time.monotonic() + timeout
    while not op.get("done"):
        if time.monotonic() > deadline:
            raise ProvisionError(f"gcp: {what}: operation did not finish", scope="zone")
        time.sleep(0.5)
        op = _call("GET", f"{api_url(TPU_URL)}/v2/{op['name']}", what)
    error = op.get("error")
    if error:
        code = GRPC_CODES.get(int(error.get("code", 2)), "UNKNOWN")
        raise decide([code], str(error.get("message", "")), what)


def _node(cluster_name_on_cloud: str) -> dict[str, Any] | None:
    from stix.errors import StixError

    zone = _zone(cluster_name_on_cloud)
    if zone is None:
        return None
    try:
        return _call(
            "GET", f"{_base(zone)}/nodes/{machines.instance_name(cluster_name_on_cloud, 0)}", "tpu"
        )
    except StixError as exc:
        if "not found" in exc.message.lower():
            return None
        raise


def _zone(cluster_name_on_cloud: str) -> str | None:
    marker = _marker(cluster_name_on_cloud)
    if not marker.exists():
        return None
    return marker.read_text().strip() or None


def run(config: ProvisionConfig, say: Callable[[str], None]) -> ProvisionRecord:
    """Create the TPU VM in the first zone of the region that has capacity."""
    kind, runtime = accelerator_type(config.resources)
    cno = config.cluster_name_on_cloud
    if config.count != 1:
        raise ProvisionError("gcp: a TPU VM cluster has exactly one node", scope="abort")
    name = machines.instance_name(cno, 0)
    existing = _node(cno) if owns(cno) else None
    if existing is not None:
        return ProvisionRecord("gcp", config.region, _zone(cno), cno, name)
    zones = list(config.zones) or [f"{config.region}-{z}" for z in ("a", "b", "c")]
    provider = config.provider_config
    body = {
        "acceleratorType": kind,
        "runtimeVersion": runtime,
        "networkConfig": {"enableExternalIps": True},
        "labels": machines.labels(config, 0),
        "metadata": {"ssh-keys": f"{provider['ssh_user']}:{provider['public_key'].strip()}"},
        "schedulingConfig": {"spot": bool(getattr(config.resources, "use_spot", False))},
    }
    last: ProvisionError | None = None
    for index, zone in enumerate(zones):
        what = f"{kind} in {zone}"
        marker = _marker(cno)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(zone)
        try:
            op = _call("POST", f"{_base(zone)}/nodes", what, params={"nodeId": name}, json=body)
            _wait_op(op, what)
            return ProvisionRecord("gcp", config.region, zone, cno, name, (name,))
        except ProvisionError as exc:
            terminate(cno)
            if exc.scope != "zone":
                raise
            last = exc
            more = "; trying the next zone" if index < len(zones) - 1 else ""
            say(f"  {exc.message}{more}")  # one line per failed attempt
    raise last or ProvisionError(f"gcp: {kind}: no zone to try", scope="region")


def wait(cluster_name_on_cloud: str, state: str, timeout: float = 900.0) -> None:
    want = {"UP": "READY", "STOPPED": "STOPPED"}.get(state)
    deadline = time.monotonic() + timeout
    while True:
        node = _node(cluster_name_on_cloud)
        if state == "TERMINATED" and node is None:
            return
        if node is not None and node.get("state") == want:
            return
        if node is not None and node.get("state") == "PREEMPTED" and state == "UP":
            raise ProvisionError(f"gcp: TPU {cluster_name_on_cloud} was preempted while starting")
        if time.monotonic() > deadline:
            raise ProvisionError(
                f"gcp: TPU {cluster_name_on_cloud} did not reach {state}", scope="zone"
            )
        time.sleep(0.5)


def cluster_info(cluster_name_on_cloud: str, region: str | None) -> ClusterInfo:
    from stix_gcp.provisioner import DEFAULT_SSH_USER, private_key_path, setting

    node = _node(cluster_name_on_cloud)
    if node is None:
        raise ClusterError(f"gcp: TPU VM of {cluster_name_on_cloud} does not exist")
    endpoint = (node.get("networkEndpoints") or [{}])[0]
    external = (endpoint.get("accessConfig") or {}).get("externalIp")
    zone = _zone(cluster_name_on_cloud)
    info = InstanceInfo(
        instance_id=machines.instance_name(cluster_name_on_cloud, 0),
        internal_ip=str(endpoint.get("ipAddress") or ""),
        external_ip=external,
        status=STATUS.get(str(node.get("state")), "TERMINATED"),
        tags=dict(node.get("labels") or {}),
    )
    return ClusterInfo(
        cloud="gcp",
        region=region,
        zone=zone,
        instances=(info,),
        ssh_user=str(setting(None, "ssh_user", DEFAULT_SSH_USER)),
        provider_config={
            "cluster_name_on_cloud": cluster_name_on_cloud,
            "ssh_private_key": private_key_path(cluster_name_on_cloud),
            "tpu": True,
        },
    )


def marked_clusters() -> list[dict[str, Any]]:
    """``list_clusters`` entries of the TPU VMs made from this machine that still exist."""
    folder = _marker("x").parent
    found = []
    for marker in sorted(folder.iterdir()) if folder.is_dir() else []:
        node = _node(marker.name)
        if node is None:
            continue
        labels = node.get("labels") or {}
        zone = _zone(marker.name) or ""
        found.append(
            {
                "cluster_name": labels.get(machines.LABEL_CLUSTER_NAME),
                "cluster_name_on_cloud": marker.name,
                "region": zone.rsplit("-", 1)[0] or None,
            }
        )
    return found


def query(cluster_name_on_cloud: str) -> dict[str, str | None]:
    node = _node(cluster_name_on_cloud)
    if node is None:
        return {}
    return {machines.instance_name(cluster_name_on_cloud, 0): STATUS.get(str(node.get("state")))}


def terminate(cluster_name_on_cloud: str) -> None:
    """Delete the TPU VM (if this cluster is one) and its marker."""
    from stix.errors import StixError

    zone = _zone(cluster_name_on_cloud)
    if zone is None:
        _marker(cluster_name_on_cloud).unlink(missing_ok=True)
        return
    name = machines.instance_name(cluster_name_on_cloud, 0)
    try:
        op = _call("DELETE", f"{_base(zone)}/nodes/{name}", "tpu down")
        _wait_op(op, "tpu down")
    except StixError as exc:
        if "not found" not in exc.message.lower():
            raise
    _marker(cluster_name_on_cloud).unlink(missing_ok=True)


__all__ = [
    "accelerator_type",
    "cluster_info",
    "is_tpu",
    "owns",
    "query",
    "run",
    "terminate",
    "wait",
]
