"""What registered objects must provide: clouds, catalogs, provisioners, stores, backends.

Each registration hook in :mod:`stix.hookspecs` hands one of these to
``register``. Optional abilities are declared in ``features`` rather than as
methods raising ``NotImplementedError``. The records at the bottom are the data
that flows between the core and a provisioner.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

if TYPE_CHECKING:
    from stix.catalog.offer import Offer
    from stix.task import Resources, Task

# Names a cloud may put in ``features``.
FEATURES = frozenset(
    {
        "multi_node",  # num_nodes > 1
        "stop",  # stop/start keeping disks
        "spot",  # use_spot
        "open_ports",  # resources.ports
        "image_id",  # resources.image_id (VM images)
        "docker_image",  # image_id: docker:<image>
        "autostop",  # stop when idle
        "autodown",  # tear down when idle
        "disk_tier",  # resources.disk_tier
        "storage_mount",  # FUSE-mount buckets on nodes
    }
)


@attrs.frozen
class CheckResult:
    """Outcome of a cloud's credential check, shown by ``stix check``.

    :param ok: whether the cloud can be used now.
    :param detail: one line: the identity found, or what is missing.
    :param hint: how to fix it when ``ok`` is false.
    """

    ok: bool
    detail: str = ""
    hint: str | None = None


class Cloud(abc.ABC):
    """A place to run nodes. Stateless and cheap to construct.

    Class attributes:

    ``name``: lowercase id users write in YAML (``aws``); equals the
    entry-point name of a cloud plugin. ``display_name``: for tables.
    ``features``: subset of :data:`FEATURES` the cloud supports.
    ``uses_catalog``: True when prices/offers come from a catalog table;
    False for clouds whose capacity is read live (``local``, ``ssh``,
    ``kubernetes``), which implement :meth:`live_offers` instead.
    ``default_cpus``: the vCPU request used when a task names no resources.
    ``distribution``: the pip distribution that provides the cloud.
    """

    name: ClassVar[str]
    display_name: ClassVar[str] = ""
    features: ClassVar[frozenset[str]] = frozenset()
    uses_catalog: ClassVar[bool] = True
    default_cpus: ClassVar[str] = "8+"
    distribution: ClassVar[str] = ""

    @abc.abstractmethod
    def check(self) -> CheckResult:
        """Check credentials and reachability; never raise for missing credentials.

        Called by ``stix check`` and before the first launch on the cloud.

        :returns: a :class:`CheckResult` saying who the user is or what to fix.
        """

    def live_offers(self, resources: Resources, num_nodes: int) -> list[Offer]:
        """Offers that satisfy ``resources`` right now, for clouds without a catalog.

        Called by the optimizer only when ``uses_catalog`` is False.

        :param resources: one resources candidate of a task.
        :param num_nodes: how many nodes the task needs.
        :returns: matching offers (price 0 where the machines are already paid).
        """
        return []

    def gpu_availability(self, region: str | None) -> list[dict[str, Any]] | None:
        """GPUs free now, for ``stix gpus list --infra <cloud>`` on a live cloud.

        Called only when ``uses_catalog`` is False.

        :param region: only this region (a kube context, a pool), or every one.
        :returns: one row per GPU type and region: ``{"accelerator": str, "free": int,
            "total": int, "max_per_node": int, "nodes": int, "region": str,
            "autoscaling": bool}``; or ``None`` when the cloud cannot tell (the
            catalogs answer instead).
        """
        return None

    def offer_note(self, offer: Offer, use_spot: bool) -> str | None:
        """A remark shown beside one of this cloud's offers in plans, or ``None``.

        Called by the optimizer for every candidate of this cloud, catalog or live.
        The default returns the offer's own ``note``.

        :param offer: the priced offer.
        :param use_spot: whether the plan prices it on the spot market.
        :returns: one short line (for example how the price at launch is set).
        """
        return offer.note

    def egress_cost(self, gigabytes: float) -> float:
        """Dollars to move ``gigabytes`` out of this cloud (for DAG planning).

        :param gigabytes: amount of data leaving the cloud.
        :returns: cost in USD; 0 by default.
        """
        return 0.0

    def unsupported(self, resources: Resources, num_nodes: int) -> str | None:
        """Say why this cloud cannot serve ``resources``, or ``None`` if it can.

        The default checks ``features`` against what the request needs.

        :param resources: one resources candidate.
        :param num_nodes: nodes requested.
        :returns: a reason such as ``"local: spot instances are not supported"``.
        """
        needs = []
        if num_nodes > 1:
            needs.append("multi_node")
        if getattr(resources, "use_spot", None):
            needs.append("spot")
        if getattr(resources, "ports", None):
            needs.append("open_ports")
        if getattr(resources, "disk_tier", None) not in (None, "none", "best"):
            needs.append("disk_tier")  # "best" is the best a cloud has, whatever it is
        image = getattr(resources, "image_id", None)
        if image:
            values = [image] if isinstance(image, str) else [str(v) for v in image.values()]
            if isinstance(image, dict) and "docker" in image:
                needs.append("docker_image")  # the reserved key; the others are VM images
                values = [str(v) for k, v in image.items() if k != "docker"]
            if any(v.startswith("docker:") for v in values):
                needs.append("docker_image")
            if any(not v.startswith("docker:") for v in values):
                needs.append("image_id")
        for need in needs:
            if need not in self.features:
                return f"{self.name}: {need.replace('_', ' ')} is not supported"
        return None


class CatalogSource(abc.ABC):
    """Where a cloud's catalog (SkyPilot v8 CSV layout) comes from.

    ``name`` is the cloud name; the files land in
    ``$STIX_HOME/catalogs/<name>/``.
    """

    name: ClassVar[str]

    @abc.abstractmethod
    def fetch(self, dest: Path) -> None:
        """Build the catalog from the cloud's pricing/offer APIs.

        Called by ``stix catalog update <name>``.

        :param dest: an empty folder; write ``vms.csv`` (and optionally
            ``images.csv``) there in the SkyPilot v8 column layout.
        :raises stix.errors.CredentialsError: when the APIs cannot be reached.
        """

    def seed(self) -> Path | None:
        """A folder holding a small shipped catalog for offline use, or ``None``."""
        return None


@attrs.frozen
class InstanceInfo:
    """One node as the cloud sees it."""

    instance_id: str
    internal_ip: str
    external_ip: str | None = None
    ssh_port: int = 22
    status: str = "UP"  # UP, STOPPED, INIT (booting), or TERMINATED
    tags: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen
class ClusterInfo:
    """Where a cluster's nodes are and how to reach them; head first in ``instances``."""

    cloud: str
    region: str | None
    zone: str | None
    instances: tuple[InstanceInfo, ...]
    ssh_user: str | None = None
    provider_config: dict[str, Any] = attrs.field(factory=dict)

    @property
    def head(self) -> InstanceInfo:
        return self.instances[0]


@attrs.frozen
class ProvisionConfig:
    """What to create: one attempt of the failover loop.

    :param cluster_name: the user's cluster name.
    :param cluster_name_on_cloud: unique name used for tags/resources on the cloud.
    :param count: nodes (head + workers).
    :param resources: the launchable resources chosen by the optimizer.
    :param region: region to create in; ``zones`` the zones to try in one request.
    :param resume_stopped: start stopped nodes instead of creating new ones.
    :param ports: ports to open at creation.
    :param provider_config: cloud-specific settings from config (VPC, labels...).
    :param docker_login: ``SKYPILOT_DOCKER_USERNAME``/``_PASSWORD``/``_SERVER`` of a task
        whose ``docker:`` image is in a private registry (container clouds pass them to
        the provider); never logged or stored.
    """

    cluster_name: str
    cluster_name_on_cloud: str
    count: int
    resources: Resources
    region: str | None
    zones: tuple[str, ...] = ()
    resume_stopped: bool = True
    ports: tuple[str, ...] = ()
    provider_config: dict[str, Any] = attrs.field(factory=dict)
    ssh_public_key: str | None = None
    docker_login: dict[str, str] | None = attrs.field(default=None, repr=False)


@attrs.frozen
class ProvisionRecord:
    """What an attempt created or resumed."""

    cloud: str
    region: str | None
    zone: str | None
    cluster_name_on_cloud: str
    head_instance_id: str
    created_instance_ids: tuple[str, ...] = ()
    resumed_instance_ids: tuple[str, ...] = ()


class Provisioner(abc.ABC):
    """Creates, queries and removes a cloud's nodes. ``name`` equals the cloud's.

    Every method must be idempotent: running it again after a partial failure
    finishes the job instead of failing. Errors are :class:`stix.errors.ProvisionError`
    subclasses whose ``scope`` (zone, region, cloud, abort) drives failover.
    """

    name: ClassVar[str]
    # True when the cloud's nodes are the task's container (``image_id: docker:`` is the
    # node's image: RunPod, Vast, Kubernetes). False for VMs: a cloud that declares the
    # ``docker_image`` feature then gets one container per node started by the core.
    runs_containers: ClassVar[bool] = False

    def bootstrap(self, config: ProvisionConfig) -> ProvisionConfig:
        """Create or reuse shared resources (networks, security groups, keys).

        :returns: the config amended with what was created.
        """
        return config

    @abc.abstractmethod
    def run_instances(self, config: ProvisionConfig) -> ProvisionRecord:
        """Create or resume ``config.count`` nodes, tagged with the cluster name.

        :raises stix.errors.NoCapacityError: no capacity in the zone(s).
        :raises stix.errors.QuotaError: an account limit in this region.
        :raises stix.errors.CredentialsError: credentials missing or rejected.
        """

    @abc.abstractmethod
    def wait_instances(self, cluster_name_on_cloud: str, region: str | None, state: str) -> None:
        """Block until every node of the cluster is in ``state`` (``UP``/``STOPPED``)."""

    @abc.abstractmethod
    def get_cluster_info(self, cluster_name_on_cloud: str, region: str | None) -> ClusterInfo:
        """Addresses of the cluster's nodes, head first, workers in stable order."""

    @abc.abstractmethod
    def query_instances(
        self, cluster_name_on_cloud: str, region: str | None
    ) -> dict[str, str | None]:
        """Live status of every node: ``{instance_id: "UP"|"STOPPED"|"INIT"|None}``.

        ``None`` means terminated (for example preempted). Used by
        ``stix status --refresh`` and by managed jobs to detect preemption.
        """

    @abc.abstractmethod
    def stop_instances(self, cluster_name_on_cloud: str, region: str | None) -> None:
        """Stop every node, keeping disks (only when the cloud has ``stop``)."""

    @abc.abstractmethod
    def terminate_instances(self, cluster_name_on_cloud: str, region: str | None) -> None:
        """Remove every node and the cluster's own cloud resources. Succeeds when already gone."""

    def open_ports(
        self, cluster_name_on_cloud: str, region: str | None, ports: tuple[str, ...]
    ) -> None:
        """Expose ``ports`` (``"8080"``, ``"8000-8010"``) on every node."""
        return None

    def get_command_runners(self, info: ClusterInfo) -> list[Any] | None:
        """Command runners for the cluster's nodes, head first, or ``None`` for SSH.

        Called after provisioning and whenever the core runs commands on the
        nodes. Clouds whose nodes are not reached over SSH (``local``, pods)
        return their own :class:`stix.runner.base.Runner` objects; VM clouds keep
        the default and get SSH runners built from ``info``.
        """
        return None

    def runner_from_spec(self, spec: dict[str, Any]) -> Any | None:
        """Rebuild one of this cloud's own runners from its saved ``to_spec()`` dict.

        Called by :func:`stix.runner.base.runner_from_spec` when ``spec["kind"]`` is not a
        core kind (``local``, ``ssh``): that kind is the cloud's name. Only provisioners
        whose :meth:`get_command_runners` returns runners of their own need it.

        :returns: the runner, or ``None`` when ``spec`` is not one of this cloud's.
        """
        return None

    def list_clusters(self) -> list[dict[str, Any]] | None:
        """Every cluster this cloud holds for STIX, or ``None`` when it cannot list them.

        Called by ``stix state recover`` to rebuild the cluster list after the state
        database was lost or damaged. A cloud finds its clusters by the tags or labels
        :meth:`run_instances` put on the nodes (``local`` reads its sandboxes, ``ssh``
        its pool allocations). Optional: the default returns ``None``.

        :returns: one ``{"cluster_name": ..., "cluster_name_on_cloud": ...,
            "region": ...}`` per cluster (``cluster_name`` is the user's name, or
            ``None`` when only the head's agent knows it).
        """
        return None

    def autostop_commands(self, cluster_name: str) -> dict[str, list[str]] | None:
        """What the head node's agent runs when autostop fires, or ``None``.

        Called when the agent is installed on the head. Return
        ``{"stop": argv, "down": argv}``: commands that stop or tear down this
        cluster from the head (for example with the instance's own role).
        ``None`` means the cloud cannot autostop from the node.
        """
        return None

    def autostop_env(self, cluster_name: str, cluster_name_on_cloud: str) -> dict[str, str] | None:
        """Secret environment variables the autostop commands need, or ``None``.

        Called with :meth:`autostop_commands`, for clouds whose nodes have no identity of
        their own and act with the user's API key (Lambda, RunPod, Vast). The head's agent
        keeps the values in a file only the node's user can read and passes them to the
        autostop command alone; they are masked in STIX's output and never logged. Besides
        these, the command's environment has ``STIX_CLUSTER_NAME_ON_CLOUD`` and
        ``STIX_INSTANCE_IDS`` (comma-separated, head first).
        """
        return None


class Store(abc.ABC):
    """An object store for ``file_mounts`` (``s3://...``) and storage objects."""

    name: ClassVar[str]
    url_schemes: ClassVar[tuple[str, ...]] = ()

    @abc.abstractmethod
    def create(self, bucket: str, region: str | None = None) -> None:
        """Create ``bucket`` if it does not exist."""

    @abc.abstractmethod
    def upload(self, source: Path, bucket: str, prefix: str = "") -> None:
        """Copy a local file or folder into ``bucket`` under ``prefix``."""

    @abc.abstractmethod
    def delete(self, bucket: str) -> None:
        """Delete ``bucket`` and everything in it."""

    @abc.abstractmethod
    def node_commands(self, url: str, dest: str, mode: str) -> str:
        """Shell commands that make ``url`` available at ``dest`` on a node.

        :param mode: ``MOUNT``, ``COPY`` or ``MOUNT_CACHED``.
        """


class Backend(abc.ABC):
    """Turns a task into jobs on a cluster (``launch``/``exec``)."""

    name: ClassVar[str]

    @abc.abstractmethod
    def execute(self, task: Task, cluster_name: str, *, detach: bool) -> int:
        """Sync, set up and submit ``task`` on an UP cluster; return the job id."""


__all__ = [
    "FEATURES",
    "Backend",
    "CatalogSource",
    "CheckResult",
    "Cloud",
    "ClusterInfo",
    "InstanceInfo",
    "ProvisionConfig",
    "ProvisionRecord",
    "Provisioner",
    "Store",
]
