"""The objects a cluster is made of, as plain manifests (dicts the client sends as they are).

Every object carries the label ``stix/cluster=<cluster name on cloud>`` so that ``down``
finds and deletes all of them. Pods are ``<cluster>-<rank>`` with ``hostname`` and
``subdomain`` set, so ranks resolve each other through the headless service
``<cluster>`` (``<cluster>-1.<cluster>.<namespace>.svc``).
"""

from __future__ import annotations

import copy
from typing import Any

CLUSTER_LABEL = "stix/cluster"
RANK_LABEL = "stix/rank"
DEFAULT_IMAGE = "python:3.12-slim"
CONTAINER = "stix"

# Keeps the container alive; the node agent and jobs are started through exec.
KEEPALIVE = "trap 'exit 0' TERM INT; while true; do sleep 3600 & wait $!; done"


def pod_name(cluster: str, rank: int) -> str:
    return f"{cluster}-{rank}"


def selector(cluster: str) -> str:
    """Label selector matching every object of the cluster."""
    return f"{CLUSTER_LABEL}={cluster}"


def _meta(name: str, cluster: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
    return {"name": name, "labels": {CLUSTER_LABEL: cluster, **(extra or {})}}


def merge(base: Any, override: Any) -> Any:
    """Lay ``override`` (``kubernetes.pod_config``) over ``base``.

    Mappings merge key by key; lists of named items (containers, env, volumes) merge
    item by item on ``name``, and an unnamed container merges into the first one;
    other lists are appended to.
    """
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(override, list):
        out_list = [copy.deepcopy(item) for item in base]
        for item in override:
            name = item.get("name") if isinstance(item, dict) else None
            match = None
            if name is not None:
                found = [
                    i
                    for i, b in enumerate(out_list)
                    if isinstance(b, dict) and b.get("name") == name
                ]
                match = found[0] if found else None
            elif isinstance(item, dict) and out_list and isinstance(out_list[0], dict):
                match = 0 if "image" in out_list[0] else None  # an unnamed container: "the" one
            if match is None:
                out_list.append(copy.deepcopy(item))
            else:
                out_list[match] = merge(out_list[match], item)
        return out_list
    return copy.deepcopy(override)


def image_of(image_id: Any, default: str | None) -> str:
    """``docker:<image>`` (or a bare image) from a task's ``image_id``, else the default."""
    if isinstance(image_id, dict):
        image_id = image_id.get("docker") or next(iter(image_id.values()), None)
    if isinstance(image_id, str) and image_id.strip():
        text = image_id.strip()
        return text[len("docker:") :] if text.startswith("docker:") else text
    return default or DEFAULT_IMAGE


def pod(
    *,
    cluster: str,
    rank: int,
    namespace: str,
    image: str,
    cpus: float,
    memory_gib: float,
    gpus: int,
    gpu_affinity: list[tuple[str, list[str]]],
    disk_gib: int | None,
    pull_secrets: list[str],
    labels: dict[str, str],
    service_account: str,
    pod_config: dict[str, Any] | None,
    set_limits: bool = True,
) -> dict[str, Any]:
    """The pod of one rank."""
    name = pod_name(cluster, rank)
    requests: dict[str, str] = {"cpu": f"{cpus:g}", "memory": f"{memory_gib:g}Gi"}
    limits: dict[str, str] = {"memory": f"{memory_gib:g}Gi"} if set_limits else {}
    if gpus:
        requests["nvidia.com/gpu"] = str(gpus)
        limits["nvidia.com/gpu"] = str(gpus)
    if disk_gib:
        requests["ephemeral-storage"] = f"{disk_gib}Gi"
    spec: dict[str, Any] = {
        "hostname": name,
        "subdomain": cluster,
        "restartPolicy": "Never",
        "serviceAccountName": service_account,
        "automountServiceAccountToken": True,
        "containers": [
            {
                "name": CONTAINER,
                "image": image,
                "command": ["/bin/bash", "-c", KEEPALIVE],
                "env": [
                    {"name": "STIX_K8S_NAMESPACE", "value": namespace},
                    {"name": "STIX_K8S_POD", "value": name},
                    {"name": "STIX_K8S_CLUSTER", "value": cluster},
                ],
                "resources": {"requests": requests, "limits": limits},
                "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
            }
        ],
        # PyTorch data loaders need a /dev/shm larger than the runtime's 64 MiB default.
        "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory"}}],
    }
    if pull_secrets:
        spec["imagePullSecrets"] = [{"name": s} for s in pull_secrets]
    if gpus:
        spec["tolerations"] = [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
    if gpu_affinity:
        terms = [
            {"matchExpressions": [{"key": key, "operator": "In", "values": sorted(values)}]}
            for key, values in gpu_affinity
        ]
        spec["affinity"] = {
            "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": terms}}
        }  # fmt: skip
    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _meta(name, cluster, {**labels, RANK_LABEL: str(rank)}),
        "spec": spec,
    }
    manifest["metadata"]["namespace"] = namespace
    if pod_config:
        manifest = merge(manifest, pod_config)
        manifest["metadata"]["name"] = name  # identity is not overridable
        manifest["metadata"].setdefault("labels", {}).update(
            {CLUSTER_LABEL: cluster, RANK_LABEL: str(rank)}
        )
    return manifest


def headless_service(cluster: str) -> dict[str, Any]:
    """The service that gives every rank a DNS name."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(cluster, cluster),
        "spec": {
            "clusterIP": "None",
            "selector": {CLUSTER_LABEL: cluster},
            "publishNotReadyAddresses": True,
            "ports": [{"name": "agent", "port": 22, "protocol": "TCP"}],
        },
    }


def ports_service(cluster: str, ports: list[int], kind: str) -> dict[str, Any]:
    """A ``NodePort``, ``LoadBalancer`` or ``ClusterIP`` service for ``ports`` of the head pod."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(f"{cluster}-ports", cluster),
        "spec": {
            "type": kind,
            "selector": {CLUSTER_LABEL: cluster, RANK_LABEL: "0"},
            "ports": [
                {"name": f"port-{p}", "port": p, "targetPort": p, "protocol": "TCP"} for p in ports
            ],
        },
    }


def owned_by(manifest: dict[str, Any], head: str, uid: str) -> dict[str, Any]:
    """``manifest`` with the head pod as its owner, so deleting the head removes it too."""
    ref = {"apiVersion": "v1", "kind": "Pod", "name": head, "uid": uid, "blockOwnerDeletion": False}
    manifest["metadata"]["ownerReferences"] = [ref]
    return manifest


def ports_ingress(cluster: str, ports: list[int], ingress_class: str | None) -> dict[str, Any]:
    """An Ingress routing ``/<cluster>/<port>`` to each port of the ``<cluster>-ports`` service."""
    paths = [
        {"path": f"/{cluster}/{p}", "pathType": "Prefix",
         "backend": {"service": {"name": f"{cluster}-ports", "port": {"number": p}}}}
        for p in ports
    ]  # fmt: skip
    spec: dict[str, Any] = {"rules": [{"http": {"paths": paths}}]}
    if ingress_class:
        spec["ingressClassName"] = ingress_class
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _meta(f"{cluster}-ports", cluster),
        "spec": spec,
    }


def registry_secret(cluster: str, login: dict[str, str]) -> dict[str, Any]:
    """A ``kubernetes.io/dockerconfigjson`` secret holding the task's registry login."""
    import base64
    import json

    user, password = login["SKYPILOT_DOCKER_USERNAME"], login["SKYPILOT_DOCKER_PASSWORD"]
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    config = {"auths": {login["SKYPILOT_DOCKER_SERVER"]: {
        "username": user, "password": password, "auth": auth}}}  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(f"{cluster}-registry", cluster),
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()},
    }


def agent_account(cluster: str) -> list[dict[str, Any]]:
    """Service account, role and binding of the head's agent.

    It may list its pods, exec into them (to start job ranks on workers) and delete the
    head pod (autodown: everything else is owned by the head and goes with it).
    """
    name = f"{cluster}-agent"
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name, cluster)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _meta(name, cluster),
            "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
                {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
                {
                    "apiGroups": [""],
                    "resources": ["pods"],
                    "verbs": ["delete"],
                    "resourceNames": [pod_name(cluster, 0)],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _meta(name, cluster),
            "subjects": [{"kind": "ServiceAccount", "name": name}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        },
    ]
