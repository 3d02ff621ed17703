"""The RunPod provisioner: one pod per cluster, on-demand or interruptible, running the task's image.

A pod is a container on a RunPod machine, so the task runs in the pod's image:
``image_id: docker:<image>`` becomes the pod's ``imageName`` (default
``runpod.image``). SSH reaches the pod through its public ``22/tcp`` mapping;
the cluster's key is given to the pod as ``PUBLIC_KEY``, which RunPod's images
install for root. Ports are fixed when a pod is created. Pods are named
``<cluster on cloud>-head``; RunPod pods of one account do not share a network,
so clusters have one node.
"""

from __future__ import annotations

from typing import Any, ClassVar

from stix.errors import ClusterError, NoCapacityError, ProvisionError
from stix.interfaces import ClusterInfo, InstanceInfo, ProvisionConfig, Provisioner, ProvisionRecord

from stix_runpod.api import RunpodApi, RunpodApiError, to_stix_error
from stix_runpod.catalog import parse_instance_type

DEFAULT_IMAGE = "runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04"
DEFAULT_SSH_USER = "root"
DEFAULT_WAIT_SECONDS = 900.0
DEFAULT_DISK_GB = 50
POD_FIELDS = (
    "id name desiredStatus podType imageName gpuCount costPerHr ports "
    "machine { dataCenterId gpuDisplayName } "
    "runtime { uptimeInSeconds ports { ip isIpPublic privatePort publicPort type } }"
)
PODS_QUERY = f"query Pods {{ myself {{ pods {{ {POD_FIELDS} }} }} }}"
GPU_IDS_QUERY = "query GpuIds { gpuTypes { id displayName secureSpotPrice communitySpotPrice } }"
# A private registry's login, saved in the account and named after the cluster.
SAVE_AUTH = "mutation SaveAuth($input: SaveRegistryAuthInput!) { saveRegistryAuth(input: $input) { id name } }"
DELETE_AUTH = "mutation DeleteAuth($id: String!) { deleteRegistryAuth(registryAuthId: $id) }"
AUTHS_QUERY = "query Auths { myself { containerRegistryCreds { id name } } }"
DEPLOY = (
    "mutation Deploy($input: PodFindAndDeployOnDemandInput) "
    "{ podFindAndDeployOnDemand(input: $input) { id name desiredStatus } }"
)
DEPLOY_SPOT = (
    "mutation DeploySpot($input: PodRentInterruptableInput!) "
    "{ podRentInterruptable(input: $input) { id name desiredStatus } }"
)
STOP = "mutation Stop($input: PodStopInput!) { podStop(input: $input) { id desiredStatus } }"
RESUME = (
    "mutation Resume($input: PodResumeInput!) { podResume(input: $input) { id desiredStatus } }"
)
BID_RESUME = (
    "mutation BidResume($input: PodBidResumeInput!) "
    "{ podBidResume(input: $input) { id desiredStatus } }"
)
TERMINATE = "mutation Terminate($input: PodTerminateInput!) { podTerminate(input: $input) }"


def _setting(key: str, default: Any = None) -> Any:
    from stix.config import load_config

    return load_config().get(f"runpod.{key}", default)


def _api() -> RunpodApi:
    from stix_runpod.credentials import api_key

    return RunpodApi(api_key())


def _call(
    api: RunpodApi, what: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    try:
        return api.call(query, variables)
    except RunpodApiError as exc:
        raise to_stix_error(exc, what) from exc


def _auth_name(cluster_name_on_cloud: str) -> str:
    return f"stix-{cluster_name_on_cloud}"


def _delete_registry_auths(api: RunpodApi, cluster_name_on_cloud: str) -> None:
    """Remove the registry logins saved for the cluster (none: nothing to do)."""
    found = (_call(api, "listing registry logins", AUTHS_QUERY).get("myself") or {}).get(
        "containerRegistryCreds"
    ) or []
    for auth in found:
        if auth.get("name") == _auth_name(cluster_name_on_cloud):
            _call(api, "deleting a registry login", DELETE_AUTH, {"id": auth["id"]})


def _save_registry_auth(api: RunpodApi, cluster_name_on_cloud: str, login: dict[str, str]) -> str:
    """Save the task's registry login for its pod to pull with; the id to deploy with.

    RunPod takes a user name and password and infers the registry from the image name.
    """
    _delete_registry_auths(api, cluster_name_on_cloud)  # a retry replaces the last try's
    login_input = {
        "name": _auth_name(cluster_name_on_cloud),
        "username": login["SKYPILOT_DOCKER_USERNAME"],
        "password": login["SKYPILOT_DOCKER_PASSWORD"],
    }
    saved = _call(api, "saving the registry login", SAVE_AUTH, {"input": login_input})
    return str((saved.get("saveRegistryAuth") or {})["id"])


def cluster_pods(api: RunpodApi, cluster_name_on_cloud: str) -> list[dict[str, Any]]:
    """The cluster's pods that are not terminated."""
    pods = (_call(api, "listing pods", PODS_QUERY).get("myself") or {}).get("pods") or []
    name = f"{cluster_name_on_cloud}-head"
    return [p for p in pods if p.get("name") == name and p.get("desiredStatus") != "TERMINATED"]


def status_of(pod: dict[str, Any]) -> str | None:
    """STIX's status of a pod: ``UP`` once its SSH port is mapped, ``STOPPED`` when exited."""
    desired = pod.get("desiredStatus")
    if desired == "RUNNING":
        return "UP" if ssh_address(pod) else "INIT"
    if desired == "EXITED":
        return "STOPPED"
    return None


def ssh_address(pod: dict[str, Any]) -> tuple[str, int] | None:
    """``(public ip, port)`` mapped to the pod's port 22, once it runs."""
    for port in (pod.get("runtime") or {}).get("ports") or []:
        if port.get("privatePort") == 22 and port.get("isIpPublic") and port.get("ip"):
            return str(port["ip"]), int(port.get("publicPort") or 22)
    return None


def pod_ports(config: ProvisionConfig) -> str:
    """RunPod's ``ports`` string: SSH plus the task's ports, all as public TCP mappings."""
    from stix.task.values import ports_to_list

    wanted = [22, *ports_to_list(config.ports), *config.resources.ports_list()]
    return ",".join(f"{p}/tcp" for p in dict.fromkeys(wanted))


class RunpodProvisioner(Provisioner):
    """Creates, queries, stops and removes RunPod pods; each verb is idempotent."""

    name: ClassVar[str] = "runpod"
    runs_containers: ClassVar[bool] = True  # the node runs the task's image itself

    def run_instances(self, config: ProvisionConfig) -> ProvisionRecord:
        """Deploy the pod in ``config.region`` (a data center), or resume a stopped one."""
        from stix.runner.ssh_keys import cluster_public_key

        api = _api()
        if config.count != 1:
            raise ProvisionError("runpod: a RunPod cluster has one node", scope="cloud")
        itype = str(getattr(config.resources, "instance_type", None) or "")
        try:
            count, slug, cloud_type = parse_instance_type(itype)
        except ValueError as exc:
            raise ProvisionError(f"runpod: {exc}", scope="abort") from exc
        spot = bool(getattr(config.resources, "use_spot", False))
        what = f"{itype}{' (interruptible)' if spot else ''} in {config.region}"
        found = cluster_pods(api, config.cluster_name_on_cloud)
        if found:
            pod = found[0]
            resumed = self._resume(api, config, pod, what)
            return self._record(config, pod, resumed=resumed)
        gpu = self._gpu(api, slug, what)
        public = config.ssh_public_key or cluster_public_key(config.cluster_name_on_cloud)
        disk = int(getattr(config.resources, "disk_size", None) or DEFAULT_DISK_GB)
        image = config.resources.docker_image(config.region) or str(
            _setting("image", DEFAULT_IMAGE)
        )
        body: dict[str, Any] = {
            "name": f"{config.cluster_name_on_cloud}-head",
            "imageName": image,
            "gpuTypeId": gpu["id"],
            "gpuCount": count,
            "cloudType": cloud_type,
            "dataCenterId": config.region,
            "containerDiskInGb": disk,
            "volumeInGb": 0,
            "ports": pod_ports(config),
            "supportPublicIp": True,
            "startSsh": True,
            "env": [{"key": "PUBLIC_KEY", "value": public}],
        }
        if config.docker_login and config.resources.docker_image(config.region):
            body["containerRegistryAuthId"] = _save_registry_auth(
                api, config.cluster_name_on_cloud, config.docker_login
            )
        if spot:
            bid = gpu.get(f"{cloud_type.lower()}SpotPrice")
            if not bid:
                raise NoCapacityError(
                    f"runpod: {what}: no interruptible capacity is offered now",
                    scope="instance_type",
                )
            body["bidPerGpu"] = float(bid)
            made = _call(api, what, DEPLOY_SPOT, {"input": body}).get("podRentInterruptable")
        else:
            made = _call(api, what, DEPLOY, {"input": body}).get("podFindAndDeployOnDemand")
        if not made or not made.get("id"):
            raise NoCapacityError(f"runpod: {what}: no pod was deployed")
        return self._record(config, made, created=True)

    def _record(
        self,
        config: ProvisionConfig,
        pod: dict[str, Any],
        *,
        created: bool = False,
        resumed: bool = False,
    ) -> ProvisionRecord:
        pid = str(pod["id"])
        return ProvisionRecord(
            cloud="runpod",
            region=config.region,
            zone=None,
            cluster_name_on_cloud=config.cluster_name_on_cloud,
            head_instance_id=pid,
            created_instance_ids=(pid,) if created else (),
            resumed_instance_ids=(pid,) if resumed else (),
        )

    def _gpu(self, api: RunpodApi, slug: str, what: str) -> dict[str, Any]:
        """The live GPU type behind an instance type's display name, with its current bids."""
        for gpu in _call(api, what, GPU_IDS_QUERY).get("gpuTypes") or []:
            if str(gpu.get("displayName") or "").replace(" ", "-") == slug:
                return dict(gpu)
        raise NoCapacityError(
            f"runpod: {what}: RunPod no longer offers this GPU type", scope="instance_type"
        )

    def _resume(
        self, api: RunpodApi, config: ProvisionConfig, pod: dict[str, Any], what: str
    ) -> bool:
        if pod.get("desiredStatus") != "EXITED":
            return False
        if not config.resume_stopped:
            raise ProvisionError(
                f"runpod: cluster {config.cluster_name} is stopped; start it or tear it down",
                scope="abort",
            )
        gpus = int(pod.get("gpuCount") or 1)
        body: dict[str, Any] = {"podId": pod["id"], "gpuCount": gpus}
        if pod.get("podType") == "INTERRUPTABLE":
            body["bidPerGpu"] = round(float(pod.get("costPerHr") or 0) / gpus, 4)
            _call(api, what, BID_RESUME, {"input": body})
        else:
            _call(api, what, RESUME, {"input": body})
        return True

    def wait_instances(self, cluster_name_on_cloud: str, region: str | None, state: str) -> None:
        """Poll until the pod is ``UP`` (SSH mapped), ``STOPPED`` or gone (``TERMINATED``)."""
        from stix.provision.poll import until

        api = _api()

        def reached() -> bool | None:
            pods = cluster_pods(api, cluster_name_on_cloud)
            if state == "TERMINATED":
                return True if not pods else None
            if state == "UP" and not pods:
                raise NoCapacityError(
                    f"runpod: pod of {cluster_name_on_cloud} went away while starting"
                )
            return True if pods and {status_of(p) for p in pods} == {state} else None

        until(
            reached,
            timeout=float(_setting("wait_seconds", DEFAULT_WAIT_SECONDS)),
            what=f"runpod: cluster {cluster_name_on_cloud} not {state}",
        )

    def get_cluster_info(self, cluster_name_on_cloud: str, region: str | None) -> ClusterInfo:
        from stix.runner.ssh_keys import cluster_key_path

        pods = cluster_pods(_api(), cluster_name_on_cloud)
        if not pods:
            raise ClusterError(f"runpod: cluster {cluster_name_on_cloud} has no pod")
        pod = pods[0]
        address = ssh_address(pod)
        ip, port = address if address else ("", 22)
        key = cluster_key_path(cluster_name_on_cloud)
        return ClusterInfo(
            cloud="runpod",
            region=(pod.get("machine") or {}).get("dataCenterId") or region,
            zone=None,
            instances=(
                InstanceInfo(
                    instance_id=str(pod["id"]),
                    internal_ip=ip,
                    external_ip=ip or None,
                    ssh_port=port,
                    status=status_of(pod) or "TERMINATED",
                ),
            ),
            ssh_user=str(_setting("ssh_user", DEFAULT_SSH_USER)),
            provider_config={
                "cluster_name_on_cloud": cluster_name_on_cloud,
                "ssh_private_key": str(key) if key.exists() else None,
                "image": pod.get("imageName"),
                "use_spot": pod.get("podType") == "INTERRUPTABLE",
            },
        )

    def list_clusters(self) -> list[dict[str, Any]] | None:
        """One entry per live pod named ``<name>-<4 hex>-head`` (how ``run_instances`` names
        a cluster's pod), in any data center; the account's pod list is global.

        ``None`` when no API key is set. The user's cluster name is left to the head's agent.
        """
        import re

        from stix.errors import CredentialsError

        try:
            api = _api()
        except CredentialsError:
            return None
        pods = (_call(api, "listing pods", PODS_QUERY).get("myself") or {}).get("pods") or []
        out = []
        for pod in pods:
            named = re.fullmatch(r"(.+-[0-9a-f]{4})-head", str(pod.get("name") or ""))
            if named and pod.get("desiredStatus") != "TERMINATED":
                out.append(
                    {
                        "cluster_name": None,
                        "cluster_name_on_cloud": named.group(1),
                        "region": (pod.get("machine") or {}).get("dataCenterId"),
                    }
                )
        return out

    def query_instances(
        self, cluster_name_on_cloud: str, region: str | None
    ) -> dict[str, str | None]:
        return {str(p["id"]): status_of(p) for p in cluster_pods(_api(), cluster_name_on_cloud)}

    def stop_instances(self, cluster_name_on_cloud: str, region: str | None) -> None:
        """Stop the pod (its volume stays, the container disk is reset by RunPod)."""
        api = _api()
        for pod in cluster_pods(api, cluster_name_on_cloud):
            if pod.get("desiredStatus") == "RUNNING":
                _call(api, "stopping", STOP, {"input": {"podId": pod["id"]}})

    def terminate_instances(self, cluster_name_on_cloud: str, region: str | None) -> None:
        from stix.runner.ssh_keys import remove_cluster_files

        api = _api()
        pods = cluster_pods(api, cluster_name_on_cloud)
        for pod in pods:
            _call(api, "terminating", TERMINATE, {"input": {"podId": pod["id"]}})
        if pods:
            self.wait_instances(cluster_name_on_cloud, region, "TERMINATED")
        _delete_registry_auths(api, cluster_name_on_cloud)
        remove_cluster_files(cluster_name_on_cloud)

    def autostop_commands(self, cluster_name: str) -> dict[str, list[str]]:
        """Autostop from the head: a stdlib-only script stops or removes the cluster with
        the user's API key (:meth:`autostop_env`)."""
        from stix.provision.nodescript import script_commands

        return script_commands(__file__, "node_autostop.py")

    def autostop_env(self, cluster_name: str, cluster_name_on_cloud: str) -> dict[str, str]:
        """The API key (and a non-default API URL) for the head's autostop script."""
        from stix.provision.nodescript import api_key_env

        from stix_runpod.api import DEFAULT_URL, base_url
        from stix_runpod.credentials import ENV_VAR, api_key

        env = api_key_env(ENV_VAR, api_key(), "STIX_RUNPOD_API_URL", base_url(), DEFAULT_URL)
        return env

    def open_ports(
        self, cluster_name_on_cloud: str, region: str | None, ports: tuple[str, ...]
    ) -> None:
        """Ports are mapped when the pod is created; check that every one of ``ports`` was."""
        from stix.task.values import ports_to_list

        for pod in cluster_pods(_api(), cluster_name_on_cloud):
            mapped = {int(p["privatePort"]) for p in (pod.get("runtime") or {}).get("ports") or []}
            missing = [p for p in ports_to_list(ports) if p not in mapped]
            if missing:
                raise ClusterError(
                    f"runpod: port {missing[0]} is not mapped on pod {pod['id']}; "
                    "RunPod sets ports only when a pod is created",
                    hint="tear the cluster down and launch it again with the ports",
                )


__all__ = [
    "RunpodProvisioner",
    "cluster_pods",
    "pod_ports",
    "ssh_address",
    "status_of",
]
