"""``KubernetesProvisioner``: a cluster is one pod per node in one context and namespace.

The region of a cluster is its kube context. Creating makes the agent's service account
(with its role), a headless service for rank discovery and the pods; ``down`` deletes
every object labelled with the cluster and waits until the pods are gone. Pods cannot
be stopped.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from stix.errors import ClusterError, ProvisionError
from stix.interfaces import (
    ClusterInfo,
    InstanceInfo,
    ProvisionConfig,
    Provisioner,
    ProvisionRecord,
)

from stix_k8s import contexts, manifests
from stix_k8s.errors import api_error

# How long ``down`` waits for the pods to disappear.
DELETE_TIMEOUT = 120.0
POLL = 0.5


def _context(region: str | None) -> str:
    if region:
        return region
    allowed = contexts.allowed_contexts()
    if not allowed:
        raise ProvisionError(
            "kubernetes: no kube context to use",
            hint=f"create {contexts.kubeconfig_path()} or set kubernetes.allowed_contexts",
            scope="cloud",
        )
    return allowed[0]


def _ignore_conflict(exc: BaseException, context: str, what: str) -> None:
    if getattr(exc, "status", None) != 409:
        raise api_error(exc, context, what) from None


def list_pods(context: str, namespace: str, cluster: str) -> list[Any]:
    """The cluster's pods in rank order."""
    api = contexts.core_api(context)
    try:
        pods = api.list_namespaced_pod(namespace, label_selector=manifests.selector(cluster)).items
    except Exception as exc:
        raise api_error(exc, context, "list pods") from None
    return sorted(pods, key=lambda p: int((p.metadata.labels or {}).get(manifests.RANK_LABEL, 0)))


class KubernetesProvisioner(Provisioner):
    """Pods as nodes."""

    name: ClassVar[str] = "kubernetes"
    runs_containers: ClassVar[bool] = True  # the node runs the task's image itself

    def bootstrap(self, config: ProvisionConfig) -> ProvisionConfig:
        context = _context(config.region)
        namespace = contexts.namespace(context)
        try:
            contexts.core_api(context).read_namespace(namespace)
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                raise ProvisionError(
                    f"kubernetes/{context}: namespace {namespace!r} does not exist",
                    hint=f"kubectl create namespace {namespace}, or set kubernetes.namespace",
                    scope="region",
                ) from None
            raise api_error(exc, context, "read namespace") from None
        return config

    def _gpu_affinity(self, context: str, accelerator: str | None) -> list[tuple[str, list[str]]]:
        """Node label values that name ``accelerator`` on this cluster, per label key."""
        from stix_k8s.capacity import GPU_LABELS, canonical_gpu

        if not accelerator:
            return []
        extra = contexts.setting(context, "gpu_label")
        keys = ((extra,) if extra else ()) + GPU_LABELS
        try:
            nodes = contexts.core_api(context).list_node().items
        except Exception as exc:
            raise api_error(exc, context, "list nodes") from None
        found: dict[str, set[str]] = {}
        for node in nodes:
            labels = node.metadata.labels or {}
            for key in keys:
                value = labels.get(key)
                if value and canonical_gpu(value).lower() == accelerator.lower():
                    found.setdefault(key, set()).add(value)
        if not found:  # nodes an autoscaler may add: ask for the canonical name
            return [(keys[0], [accelerator])]
        return [(key, sorted(values)) for key, values in found.items()]

    def run_instances(self, config: ProvisionConfig) -> ProvisionRecord:
        from stix_k8s.capacity import shape_for

        context = _context(config.region)
        namespace = contexts.namespace(context)
        cluster = config.cluster_name_on_cloud
        shape = shape_for(config.resources)
        if shape is None:
            raise ProvisionError(
                f"kubernetes: cannot size a pod for {config.resources.instance_type!r}",
                scope="cloud",
            )
        api = contexts.core_api(context)
        rbac = contexts.rbac_api(context)
        account, role, binding = manifests.agent_account(cluster)
        try:
            api.create_namespaced_service_account(namespace, account)
        except Exception as exc:
            _ignore_conflict(exc, context, "create service account")
        existing = {p.metadata.name for p in list_pods(context, namespace, cluster)}
        image = manifests.image_of(config.resources.image_id, contexts.setting(context, "image"))
        affinity = self._gpu_affinity(context, shape.accelerator if shape.gpus else None)
        secrets = list(contexts.setting(context, "image_pull_secrets") or [])
        registry = None
        if config.docker_login:  # the task's private registry: a pull secret of its own
            registry = manifests.registry_secret(cluster, config.docker_login)
            try:
                api.create_namespaced_secret(namespace, registry)
            except Exception as exc:
                if getattr(exc, "status", None) != 409:
                    raise api_error(exc, context, "create the registry secret") from None
                name = registry["metadata"]["name"]
                try:  # a retry: the login may have changed since
                    api.patch_namespaced_secret(name, namespace, {"data": registry["data"]})
                except Exception as again:
                    raise api_error(again, context, "replace the registry secret") from None
            secrets.append(registry["metadata"]["name"])
        head = manifests.pod_name(cluster, 0)
        uid = ""
        created = []
        for rank in range(config.count):
            name = manifests.pod_name(cluster, rank)
            if name in existing:
                continue
            body = manifests.pod(
                cluster=cluster,
                rank=rank,
                namespace=namespace,
                image=image,
                cpus=shape.cpus,
                memory_gib=shape.memory_gib,
                gpus=shape.gpus,
                gpu_affinity=affinity,
                disk_gib=config.resources.disk_size,
                pull_secrets=[str(s) for s in secrets],
                labels={str(k): str(v) for k, v in (config.resources.labels or {}).items()},
                service_account=account["metadata"]["name"],
                pod_config=contexts.setting(context, "pod_config"),
                set_limits=bool(contexts.setting(context, "set_pod_resource_limits", True)),
            )
            if rank > 0:
                uid = uid or _uid(context, namespace, head)
                body = manifests.owned_by(body, head, uid)
            try:
                api.create_namespaced_pod(namespace, body)
            except Exception as exc:
                _ignore_conflict(exc, context, f"create pod {name}")
            created.append(name)
        # Everything else belongs to the head pod: deleting it (autodown) removes them all.
        uid = uid or _uid(context, namespace, head)
        for what, call, body in (
            ("create role", rbac.create_namespaced_role, role),
            ("create role binding", rbac.create_namespaced_role_binding, binding),
            ("create service", api.create_namespaced_service, manifests.headless_service(cluster)),
        ):
            try:
                call(namespace, manifests.owned_by(body, head, uid))
            except Exception as exc:
                _ignore_conflict(exc, context, what)
        patch = manifests.owned_by({"metadata": {}}, head, uid)  # just the ownerReferences
        try:
            api.patch_namespaced_service_account(account["metadata"]["name"], namespace, patch)
        except Exception as exc:
            raise api_error(exc, context, "patch service account") from None
        if registry is not None:
            try:
                api.patch_namespaced_secret(registry["metadata"]["name"], namespace, patch)
            except Exception as exc:
                raise api_error(exc, context, "patch the registry secret") from None
        return ProvisionRecord(
            cloud=self.name,
            region=context,
            zone=None,
            cluster_name_on_cloud=cluster,
            head_instance_id=manifests.pod_name(cluster, 0),
            created_instance_ids=tuple(created),
            resumed_instance_ids=tuple(sorted(existing)),
        )

    def wait_instances(self, cluster_name_on_cloud: str, region: str | None, state: str) -> None:
        from stix_k8s.scheduling import wait_running

        if state != "UP":
            raise ClusterError("kubernetes: pods cannot be stopped; use `stix down` instead")
        context = _context(region)
        wait_running(
            context,
            contexts.namespace(context),
            cluster_name_on_cloud,
            timeout=contexts.provision_timeout(context),
        )

    def get_cluster_info(self, cluster_name_on_cloud: str, region: str | None) -> ClusterInfo:
        context = _context(region)
        namespace = contexts.namespace(context)
        pods = list_pods(context, namespace, cluster_name_on_cloud)
        instances = tuple(
            InstanceInfo(
                instance_id=p.metadata.name,
                internal_ip=p.status.pod_ip or "",
                status=_status(p) or "TERMINATED",
                tags=dict(p.metadata.labels or {}),
            )
            for p in pods
        )
        if not instances:
            raise ClusterError(f"kubernetes/{context}: cluster {cluster_name_on_cloud} has no pods")
        return ClusterInfo(
            cloud=self.name,
            region=context,
            zone=None,
            instances=instances,
            provider_config={"context": context, "namespace": namespace},
        )

    def list_clusters(self) -> list[dict[str, Any]] | None:
        """One entry per head pod (label ``stix/rank=0``) in the namespace of every allowed
        context; the user's cluster name is left to the head's agent.

        ``None`` when no context is configured. A context that cannot be reached prints one
        line and is passed over, so the others are still listed.
        """
        import sys

        found: list[dict[str, Any]] = []
        allowed = contexts.allowed_contexts()
        for context in allowed:
            try:
                heads = (
                    contexts.core_api(context)
                    .list_namespaced_pod(
                        contexts.namespace(context), label_selector=f"{manifests.RANK_LABEL}=0"
                    )
                    .items
                )
            except Exception as exc:
                error = api_error(exc, context, "list pods")
                print(error.message, file=sys.stderr, flush=True)
                continue
            for pod in heads:
                cluster = (pod.metadata.labels or {}).get(manifests.CLUSTER_LABEL)
                if cluster:
                    found.append(
                        {"cluster_name": None, "cluster_name_on_cloud": cluster, "region": context}
                    )
        return found if allowed else None

    def query_instances(
        self, cluster_name_on_cloud: str, region: str | None
    ) -> dict[str, str | None]:
        context = _context(region)
        pods = list_pods(context, contexts.namespace(context), cluster_name_on_cloud)
        return {p.metadata.name: _status(p) for p in pods}

    def stop_instances(self, cluster_name_on_cloud: str, region: str | None) -> None:
        raise ClusterError(
            "kubernetes: pods cannot be stopped (a stopped pod loses its node); "
            "use `stix down` to remove the cluster"
        )

    def terminate_instances(self, cluster_name_on_cloud: str, region: str | None) -> None:
        context = _context(region)
        namespace = contexts.namespace(context)
        label = manifests.selector(cluster_name_on_cloud)
        api = contexts.core_api(context)
        rbac = contexts.rbac_api(context)
        kinds = (
            ("pods", api.list_namespaced_pod, api.delete_namespaced_pod),
            ("services", api.list_namespaced_service, api.delete_namespaced_service),
            ("role bindings", rbac.list_namespaced_role_binding, rbac.delete_namespaced_role_binding),
            ("roles", rbac.list_namespaced_role, rbac.delete_namespaced_role),
            ("service accounts", api.list_namespaced_service_account,
             api.delete_namespaced_service_account),
            ("secrets", api.list_namespaced_secret, api.delete_namespaced_secret),
        )  # fmt: skip
        for what, lister, deleter in kinds:
            try:
                items = lister(namespace, label_selector=label).items
            except Exception as exc:
                raise api_error(exc, context, f"list {what}") from None
            for item in items:
                try:
                    deleter(item.metadata.name, namespace, grace_period_seconds=0)
                except Exception as exc:
                    if getattr(exc, "status", None) != 404:
                        raise api_error(exc, context, f"delete {item.metadata.name}") from None
        _delete_ingresses(context, namespace, label)
        deadline = time.monotonic() + DELETE_TIMEOUT
        while list_pods(context, namespace, cluster_name_on_cloud):
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"kubernetes/{context}: pods of {cluster_name_on_cloud} still exist after "
                    f"{DELETE_TIMEOUT:g} s"
                )
            time.sleep(POLL)

    def open_ports(
        self, cluster_name_on_cloud: str, region: str | None, ports: tuple[str, ...]
    ) -> None:
        context = _context(region)
        numbers: list[int] = []
        for item in ports:
            low, _, high = str(item).partition("-")
            numbers.extend(range(int(low), int(high or low) + 1))
        mode = str(contexts.setting(context, "ports", "loadbalancer")).lower()
        kind = {"loadbalancer": "LoadBalancer", "nodeport": "NodePort", "ingress": "ClusterIP"}.get(
            mode
        )
        if kind is None:
            raise ProvisionError(
                f"kubernetes.ports must be loadbalancer, nodeport or ingress, got {mode!r}",
                scope="cloud",
            )
        namespace = contexts.namespace(context)
        head = manifests.pod_name(cluster_name_on_cloud, 0)
        uid = _uid(context, namespace, head)
        wanted = sorted(set(numbers))
        service = manifests.ports_service(cluster_name_on_cloud, wanted, kind)
        try:
            contexts.core_api(context).create_namespaced_service(
                namespace, manifests.owned_by(service, head, uid)
            )
        except Exception as exc:
            _ignore_conflict(exc, context, "create ports service")
        if mode != "ingress":
            return
        ingress = manifests.ports_ingress(
            cluster_name_on_cloud, wanted, contexts.setting(context, "ingress_class")
        )
        api = contexts.networking_api(context)
        try:
            api.create_namespaced_ingress(namespace, manifests.owned_by(ingress, head, uid))
        except Exception as exc:
            _ignore_conflict(exc, context, "create ingress")

    def get_command_runners(self, info: ClusterInfo) -> list[Any]:
        from stix_k8s.runner import KubeRunner

        context = info.provider_config.get("context") or _context(info.region)
        namespace = info.provider_config.get("namespace") or contexts.namespace(context)
        return [
            KubeRunner(context, namespace, inst.instance_id, is_head=i == 0)
            for i, inst in enumerate(info.instances)
        ]

    def autostop_commands(self, cluster_name: str) -> dict[str, list[str]]:
        """Autodown from the head: it deletes its own pod with its service account, and the
        API server's garbage collector removes every object the head owns. No stop."""
        from pathlib import Path

        source = (Path(__file__).parent / "podexec.py").read_text()
        return {"down": ["python3", "-c", source, "--delete-self"]}

    def runner_from_spec(self, spec: dict[str, Any]) -> Any:
        from stix_k8s.runner import KubeRunner

        return KubeRunner.from_spec(spec)


def _delete_ingresses(context: str, namespace: str, label: str) -> None:
    """Delete the cluster's ingresses; a user without ingress rights never made any."""
    api = contexts.networking_api(context)
    try:
        items = api.list_namespaced_ingress(namespace, label_selector=label).items
    except Exception as exc:
        if getattr(exc, "status", None) in (403, 404):
            return
        raise api_error(exc, context, "list ingresses") from None
    for item in items:
        try:
            api.delete_namespaced_ingress(item.metadata.name, namespace)
        except Exception as exc:
            if getattr(exc, "status", None) != 404:
                raise api_error(exc, context, f"delete {item.metadata.name}") from None


def _uid(context: str, namespace: str, pod: str) -> str:
    try:
        return str(contexts.core_api(context).read_namespaced_pod(pod, namespace).metadata.uid)
    except Exception as exc:
        raise api_error(exc, context, f"read pod {pod}") from None


def _status(pod: Any) -> str | None:
    if pod.metadata.deletion_timestamp is not None:
        return None
    phase = pod.status.phase if pod.status else None
    if phase == "Running":
        return "UP"
    if phase == "Pending":
        return "INIT"
    return None
