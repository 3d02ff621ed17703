"""Live capacity of a cluster: what each node can hold now, GPU types from node labels, offers.

Nothing here has a price list. A node offers its allocatable CPU, memory and GPUs minus
what running pods already request; the GPU type comes from the first label present of
:data:`GPU_LABELS` (or ``kubernetes.gpu_label`` from config). Pod shapes are written as
instance types like ``4CPU--16GB`` or ``4CPU--16GB--H100:1``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import attrs

from stix_k8s import contexts

if TYPE_CHECKING:
    from stix.catalog.offer import Offer
    from stix.task import Resources

GPU_RESOURCE = "nvidia.com/gpu"

# Node labels that name the GPU type, as GPU operators and managed offerings set them.
GPU_LABELS = (
    "skypilot.co/accelerator",
    "nvidia.com/gpu.product",
    "cloud.google.com/gke-accelerator",
    "karpenter.k8s.aws/instance-gpu-name",
    "eks.amazonaws.com/nodegroup-gpu",
    "gpu.nvidia.com/class",
    "nebius.com/gpu-name",
)

# Canonical accelerator names, longest first so "A100-80GB" wins over "A100".
_KNOWN = (
    "GH200", "H200", "H100", "B200", "B100", "A100-80GB", "A100", "A10G", "A10", "A40",
    "L40S", "L40", "L4", "T4", "V100", "P100", "P4", "K80", "RTX6000", "RTX4090", "RTX3090",
)  # fmt: skip

_SHAPE = re.compile(r"^(?P<cpus>[\d.]+)CPU--(?P<mem>[\d.]+)GB(?:--(?P<acc>[^:]+):(?P<n>[\d.]+))?$")

# Pod requests when a task names no CPUs or memory.
DEFAULT_CPUS = 1.0
MEMORY_PER_CPU_GIB = 2.0


def canonical_gpu(label: str) -> str:
    """A label value as an accelerator name: ``NVIDIA-H100-80GB-HBM3`` -> ``H100``."""
    text = label.upper().replace("_", "-").replace(" ", "-")
    for prefix in ("NVIDIA-TESLA-", "NVIDIA-", "TESLA-"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    tokens = text.split("-")
    for name in _KNOWN:
        if name == "A100-80GB":
            if "A100" in tokens and "80GB" in tokens:
                return name
            continue
        if name in tokens:
            return name
    return tokens[0] if tokens and tokens[0] else label


def quantity(text: Any) -> float:
    """A Kubernetes quantity (``500m``, ``16Gi``, ``2``) as a plain number (bytes for memory)."""
    from kubernetes.utils import parse_quantity

    return float(parse_quantity(str(text)))


@attrs.frozen
class NodeCapacity:
    """One schedulable node: totals and what is free now."""

    name: str
    cpus: float
    memory_gib: float
    gpus: int
    free_cpus: float
    free_memory_gib: float
    free_gpus: int
    accelerator: str | None
    labels: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen
class Shape:
    """What one pod asks for."""

    cpus: float
    memory_gib: float
    accelerator: str | None = None
    gpus: int = 0

    @property
    def instance_type(self) -> str:
        text = f"{_num(self.cpus)}CPU--{_num(self.memory_gib)}GB"
        if self.accelerator and self.gpus:
            text += f"--{self.accelerator}:{self.gpus}"
        return text

    def fits(self, node: NodeCapacity) -> bool:
        if self.cpus > node.free_cpus + 1e-9 or self.memory_gib > node.free_memory_gib + 1e-9:
            return False
        if self.gpus:
            if (
                node.accelerator is None
                or node.accelerator.lower() != (self.accelerator or "").lower()
            ):
                return False
            return self.gpus <= node.free_gpus
        return True

    def slots(self, node: NodeCapacity) -> int:
        """How many pods of this shape the node can take now."""
        if not self.fits(node):
            return 0
        counts = [node.free_cpus // self.cpus if self.cpus else 64]
        if self.memory_gib:
            counts.append(node.free_memory_gib // self.memory_gib)
        if self.gpus:
            counts.append(node.free_gpus // self.gpus)
        return int(min(counts))


def _num(value: float) -> str:
    return f"{value:g}"


def parse_shape(instance_type: str) -> Shape | None:
    """Inverse of :attr:`Shape.instance_type`; ``None`` for anything else."""
    match = _SHAPE.match(instance_type)
    if not match:
        return None
    acc, count = match["acc"], match["n"]
    return Shape(float(match["cpus"]), float(match["mem"]), acc, int(float(count)) if count else 0)


def shape_for(resources: Resources) -> Shape | None:
    """The pod shape a resources candidate asks for (``None``: not a pod shape)."""
    if resources.instance_type:
        return parse_shape(resources.instance_type)
    cpus_req = resources.cpus_request()
    cpus = cpus_req[0] if cpus_req else DEFAULT_CPUS
    mem_req = resources.memory_request()
    memory = mem_req[0] if mem_req else cpus * MEMORY_PER_CPU_GIB
    acc = resources.accelerator()
    if acc is None:
        return Shape(cpus, memory)
    count = acc[1]
    if not float(count).is_integer():
        return None  # fractional GPUs are not schedulable with the device plugin
    return Shape(cpus, memory, acc[0], int(count))


def gpu_type(labels: dict[str, str], extra_label: str | None) -> str | None:
    """The accelerator name a node's labels give, or ``None``."""
    for key in ((extra_label,) if extra_label else ()) + GPU_LABELS:
        value = labels.get(key)
        if value:
            return canonical_gpu(value)
    return None


def _requests(pod: Any) -> tuple[float, float, int]:
    cpus = memory = 0.0
    gpus = 0
    for container in pod.spec.containers or []:
        requests = (container.resources.requests if container.resources else None) or {}
        limits = (container.resources.limits if container.resources else None) or {}
        cpus += quantity(requests.get("cpu", 0))
        memory += quantity(requests.get("memory", 0))
        gpus += int(quantity(limits.get(GPU_RESOURCE, requests.get(GPU_RESOURCE, 0))))
    return cpus, memory, gpus


def _schedulable(node: Any) -> bool:
    if node.spec.unschedulable:
        return False
    ready = [c for c in node.status.conditions or [] if c.type == "Ready"]
    if ready and ready[0].status != "True":
        return False
    for taint in node.spec.taints or []:
        if taint.effect in ("NoSchedule", "NoExecute") and taint.key != GPU_RESOURCE:
            return False
    return True


def node_capacities(context: str) -> list[NodeCapacity]:
    """Every schedulable node of the context with its free resources now."""
    from kubernetes.client.exceptions import ApiException

    from stix_k8s.errors import api_error

    api = contexts.core_api(context)
    try:
        nodes = api.list_node().items
        try:
            pods = api.list_pod_for_all_namespaces(
                field_selector="status.phase!=Succeeded,status.phase!=Failed"
            ).items
        except ApiException as exc:
            if exc.status != 403:
                raise
            pods = api.list_namespaced_pod(contexts.namespace(context)).items
    except Exception as exc:
        raise api_error(exc, context, "list nodes") from None
    used: dict[str, list[float]] = {}
    for pod in pods:
        if not pod.spec.node_name or (pod.status and pod.status.phase in ("Succeeded", "Failed")):
            continue
        cpus, memory, gpus = _requests(pod)
        total = used.setdefault(pod.spec.node_name, [0.0, 0.0, 0.0])
        total[0] += cpus
        total[1] += memory
        total[2] += gpus
    label = contexts.setting(context, "gpu_label")
    out = []
    for node in nodes:
        if not _schedulable(node):
            continue
        alloc = node.status.allocatable or {}
        labels = dict(node.metadata.labels or {})
        cpus = quantity(alloc.get("cpu", 0))
        memory = quantity(alloc.get("memory", 0)) / 2**30
        gpus = int(quantity(alloc.get(GPU_RESOURCE, 0)))
        use = used.get(node.metadata.name, [0.0, 0.0, 0.0])
        out.append(
            NodeCapacity(
                name=node.metadata.name,
                cpus=cpus,
                memory_gib=memory,
                gpus=gpus,
                free_cpus=max(0.0, cpus - use[0]),
                free_memory_gib=max(0.0, memory - use[1] / 2**30),
                free_gpus=max(0, gpus - int(use[2])),
                accelerator=gpu_type(labels, label) if gpus else None,
                labels=labels,
            )
        )
    return out


def hourly_price(context: str, shape: Shape) -> float:
    """``kubernetes.pricing``: ``{cpu: $/vCPU-h, memory: $/GiB-h, gpus: {H100: $/GPU-h}}``."""
    pricing = contexts.setting(context, "pricing") or {}
    if not isinstance(pricing, dict):
        return 0.0
    price = float(pricing.get("cpu", 0) or 0) * shape.cpus
    price += float(pricing.get("memory", 0) or 0) * shape.memory_gib
    gpus = pricing.get("gpus") or {}
    if shape.gpus and isinstance(gpus, dict):
        rates = {str(k).lower(): float(v) for k, v in gpus.items()}
        price += rates.get((shape.accelerator or "").lower(), 0.0) * shape.gpus
    return round(price, 6)


def autoscaling_shapes(context: str) -> list[Shape]:
    """Node types an autoscaler can add (``kubernetes.autoscaling_pools``), as pod shapes.

    Each entry: ``{cpus: 96, memory: 1024, accelerator: "H100:8"}``; a pod of any size up
    to the entry fits, once the autoscaler has added the node.
    """
    pools = contexts.setting(context, "autoscaling_pools") or []
    out = []
    for entry in pools if isinstance(pools, list) else []:
        if not isinstance(entry, dict):
            continue
        acc, _, count = str(entry.get("accelerator") or "").partition(":")
        out.append(
            Shape(
                float(entry.get("cpus", 0) or 0),
                float(entry.get("memory", 0) or 0),
                canonical_gpu(acc) if acc else None,
                int(count or (1 if acc else 0)),
            )
        )
    return out


def _pool_fits(shape: Shape, pool: Shape) -> bool:
    node = NodeCapacity("autoscaled", pool.cpus, pool.memory_gib, pool.gpus, pool.cpus,
                        pool.memory_gib, pool.gpus, pool.accelerator)  # fmt: skip
    return shape.fits(node)


def offers(context: str, resources: Resources, num_nodes: int) -> list[Offer]:
    """Offers of ``context`` for ``num_nodes`` pods of the shape ``resources`` asks for."""
    from stix.catalog.offer import Offer

    shape = shape_for(resources)
    if shape is None:
        return []
    nodes = node_capacities(context)
    free = sum(shape.slots(node) for node in nodes)
    note = None
    if free < num_nodes:
        if not any(_pool_fits(shape, p) for p in autoscaling_shapes(context)):
            return []
        note = f"{free} of {num_nodes} pods fit now; an autoscaling pool must add nodes"
    price = hourly_price(context, shape)
    return [
        Offer(
            cloud="kubernetes",
            instance_type=shape.instance_type,
            vcpus=shape.cpus,
            memory_gib=shape.memory_gib,
            price=price,
            region=context,
            zone=None,
            accelerator_name=shape.accelerator if shape.gpus else None,
            accelerator_count=shape.gpus,
            note=note,
        )
    ]


def gpu_rows(context: str) -> list[dict[str, Any]]:
    """Per GPU type of a context: total, free and the most one node can give now."""
    rows: dict[str, dict[str, Any]] = {}
    for node in node_capacities(context):
        if not node.accelerator or not node.gpus:
            continue
        row = rows.setdefault(
            node.accelerator,
            {"region": context, "accelerator": node.accelerator, "total": 0, "free": 0,
             "max_per_node": 0, "nodes": 0, "autoscaling": False},
        )  # fmt: skip
        row["total"] += node.gpus
        row["free"] += node.free_gpus
        row["max_per_node"] = max(row["max_per_node"], node.free_gpus)
        row["nodes"] += 1
    for pool in autoscaling_shapes(context):
        if pool.accelerator and pool.gpus:
            row = rows.setdefault(
                pool.accelerator,
                {"region": context, "accelerator": pool.accelerator, "total": 0, "free": 0,
                 "max_per_node": 0, "nodes": 0, "autoscaling": True},
            )  # fmt: skip
            row["autoscaling"] = True
    return sorted(rows.values(), key=lambda r: r["accelerator"])
