"""``FakeKubeApi``: the parts of the Kubernetes API that stix-k8s uses, with pods that run.

Follows the core/v1, rbac/v1 and authorization/v1 REST references
(https://kubernetes.io/docs/reference/kubernetes-api/): object shapes, list kinds,
``Status`` error payloads, label and field selectors, and the exec subresource over a
websocket (subprotocols ``v5.channel.k8s.io``/``v4.channel.k8s.io``: a channel byte then
data; channel 3 carries the final ``Status``; v5 adds channel 255 to close stdin).

Pods are local sandboxes: a pod is a folder whose ``home`` is ``$HOME`` of its processes;
the container's command really runs there, and exec runs the requested command there
too, so jobs truly run. The scheduler places pods on the configured nodes by requested
CPU, memory and ``nvidia.com/gpu``, node affinity and taints, and reports
``FailedScheduling`` events and conditions as the real one does. Deviations: the fake
serves HTTPS with a throwaway certificate (the harness's ``FakeApi(tls=True)``); it
stands in for the kubelet's service-account mount by writing the token and CA to
``<pod>/serviceaccount`` and pointing ``STIX_K8S_SA_DIR`` there.
"""

from __future__ import annotations

import datetime
import itertools
import json
import os
import shutil
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Any

from k8s_fakewire import (
    fields_match,
    labels_match,
    merge_patch,
    run_exec,
    write_kubeconfig,
)
from k8s_httpfake import FakeApi, Request, Response, Upgrade, WebSocket, json_response
from stix.clouds.local.sandbox import NODE_MARKER, kill_node

ADMIN_TOKEN = "fake-admin-token"

# The default fake cluster: an H100 node (tainted as GPU nodes usually are), an L4 node
# labelled the GKE way, and a CPU node.
NODES = [
    {"name": "gpu-h100-a", "cpu": 16, "memory": 64, "gpus": 2,
     "labels": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
     "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
    {"name": "gpu-l4-b", "cpu": 8, "memory": 32, "gpus": 1,
     "labels": {"cloud.google.com/gke-accelerator": "nvidia-l4"}},
    {"name": "cpu-c", "cpu": 4, "memory": 16},
]  # fmt: skip

_PLURAL_KIND = {
    "pods": "Pod", "services": "Service", "serviceaccounts": "ServiceAccount",
    "events": "Event", "roles": "Role", "rolebindings": "RoleBinding", "ingresses": "Ingress",
    "secrets": "Secret",
}  # fmt: skip


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(code: int, reason: str, message: str) -> Response:
    return json_response(
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
         "message": message, "reason": reason, "code": code},
        code,
    )  # fmt: skip


def _quantity(text: Any) -> float:
    from kubernetes.utils import parse_quantity

    return float(parse_quantity(str(text)))


class FakeKubeApi(FakeApi):
    """A fake API server with ``nodes`` and sandboxes under ``root``.

    :param nodes: ``{"name", "cpu", "memory" (GiB), "gpus", "labels", "taints"}`` each.
    """

    def __init__(self, root: Path, nodes: list[dict[str, Any]]) -> None:
        super().__init__(tls=True)
        self.root = Path(root)
        self.nodes = nodes
        self.objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {
            k: {} for k in _PLURAL_KIND
        }
        self.namespaces = {"default"}
        self.denied: set[str] = set()  # "create pods/exec" and such, for SelfSubjectAccessReview
        self.unpullable: set[str] = set()  # images whose pull fails
        self.exec_protocols: tuple[str, ...] = (
            "v5.channel.k8s.io",
            "v4.channel.k8s.io",
        )  # in order
        self.tokens = {ADMIN_TOKEN}
        self.accounts: dict[str, tuple[str, str]] = {}  # pod token -> (namespace, service account)
        self.lock = threading.RLock()
        self._ips = itertools.count(2)
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._stop = threading.Event()
        ns = r"/api/v1/namespaces/(?P<ns>[^/]+)"
        rbac = r"/apis/rbac.authorization.k8s.io/v1/namespaces/(?P<ns>[^/]+)"
        self.route("GET", r"/version/?", self.version)
        self.route("GET", r"/api/v1/nodes", self.list_nodes)
        self.route("GET", r"/api/v1/pods", lambda r: self.list_all(r, "pods"))
        self.route("GET", r"/api/v1/namespaces/(?P<name>[^/]+)", self.read_namespace)
        self.route("POST", r"/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", self.review)
        self.route("GET", ns + r"/pods/(?P<name>[^/]+)/exec", self.exec)
        self.route("POST", ns + r"/pods/(?P<name>[^/]+)/exec", self.exec)
        for plural in ("pods", "services", "serviceaccounts", "events", "secrets"):
            self._crud(ns, plural)
        for plural in ("roles", "rolebindings"):
            self._crud(rbac, plural)
        self._crud(r"/apis/networking.k8s.io/v1/namespaces/(?P<ns>[^/]+)", "ingresses")

    def _crud(self, prefix: str, plural: str) -> None:
        self.route("GET", prefix + f"/{plural}", lambda r: self.list(r, plural))
        self.route("POST", prefix + f"/{plural}", lambda r: self.create(r, plural))
        self.route("GET", prefix + f"/{plural}/(?P<name>[^/]+)", lambda r: self.read(r, plural))
        one = prefix + f"/{plural}/(?P<name>[^/]+)"
        self.route("DELETE", one, lambda r: self.delete(r, plural))
        self.route("PATCH", one, lambda r: self.patch(r, plural))

    # -- plumbing -----------------------------------------------------------------

    def dispatch(self, request: Request) -> Any:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":  # auth schemes are case-insensitive (RFC 9110)
            token = ""
        if token not in self.tokens:
            return _status(401, "Unauthorized", "Unauthorized")
        account = self.accounts.get(token)
        if account is not None and not self._authorized(account, request):
            return _status(403, "Forbidden", f"system:serviceaccount:{account[0]}:{account[1]} "
                           f"cannot {request.method} {request.path}")  # fmt: skip
        return super().dispatch(request)

    _VERBS = {"GET": "get", "POST": "create", "DELETE": "delete", "PATCH": "patch", "PUT": "update"}

    def _authorized(self, account: tuple[str, str], request: Request) -> bool:
        """RBAC for service-account tokens: the rules of the roles bound to the account."""
        parts = request.path.strip("/").split("/")
        if "namespaces" not in parts:
            return False
        rest = parts[parts.index("namespaces") + 1 :]
        if len(rest) < 2 or rest[0] != account[0]:
            return False
        resource, name = rest[1], (rest[2] if len(rest) > 2 else None)
        verb = self._VERBS[request.method]
        if len(rest) > 3:
            resource, verb = f"{resource}/{rest[3]}", "create"  # websocket exec needs create
        elif name is None and verb == "get":
            verb = "list"
        with self.lock:
            roles = [
                self.objects["roles"].get((account[0], b["roleRef"]["name"]))
                for b in self.objects["rolebindings"].values()
                if b["metadata"]["namespace"] == account[0]
                and any(s.get("name") == account[1] for s in b.get("subjects") or [])
            ]
        for role in filter(None, roles):
            for rule in role.get("rules") or []:
                if resource in rule.get("resources", []) and verb in rule.get("verbs", []):
                    names = rule.get("resourceNames")
                    if not names or name in names:
                        return True
        return False

    def start(self) -> FakeKubeApi:
        super().start()
        threading.Thread(target=self._kubelet, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for key in list(self.objects["pods"]):
            self._kill(self.objects["pods"][key])
        super().stop()

    def kubeconfig(self, path: Path, context: str = "fake", namespace: str = "default") -> Path:
        """Write a kubeconfig whose context ``context`` points at this server."""
        return write_kubeconfig(path, [self.context_entry(context, namespace)], context)

    def context_entry(self, context: str, namespace: str = "default") -> dict[str, Any]:
        """Cluster, user and context entries of a kubeconfig for this server."""
        return {
            "clusters": [{"name": context, "cluster": {"server": self.url,
                                                        "certificate-authority-data": self.ca_data()}}],
            "users": [{"name": context, "user": {"token": ADMIN_TOKEN}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context,
                                                        "namespace": namespace}}],
        }  # fmt: skip

    def ca_data(self) -> str:
        """The server certificate, base64 PEM as kubeconfigs embed it."""
        import base64

        assert self.ca_file is not None
        return base64.b64encode(Path(self.ca_file).read_bytes()).decode()

    def live_processes(self) -> list[int]:
        """Pids of processes still running in any pod of this fake (for leak checks)."""
        needle = f"{NODE_MARKER}={self.root}/".encode()
        pids = []
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    with open(f"/proc/{entry.name}/environ", "rb") as fh:
                        if needle in fh.read():
                            pids.append(int(entry.name))
                except OSError:
                    continue
        return pids

    def names(self, plural: str) -> list[str]:
        """Names of every stored object of a kind (for leak checks)."""
        with self.lock:
            return sorted(name for _, name in self.objects[plural])

    # -- simple endpoints -----------------------------------------------------------

    def version(self, _: Request) -> Response:
        return json_response(
            {"major": "1", "minor": "31", "gitVersion": "v1.31.0-fake", "gitCommit": "0" * 40,
             "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.22",
             "compiler": "gc", "platform": "linux/amd64"}
        )  # fmt: skip

    def read_namespace(self, request: Request) -> Response:
        name = request.params["name"]
        if name not in self.namespaces:
            return _status(404, "NotFound", f'namespaces "{name}" not found')
        return json_response(
            {"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": name, "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),
                          "creationTimestamp": "2026-01-01T00:00:00Z"},
             "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
        )  # fmt: skip

    def review(self, request: Request) -> Response:
        doc = request.json()
        attrs_ = doc["spec"].get("resourceAttributes") or {}
        sub = attrs_.get("subresource")
        name = f"{attrs_.get('verb')} {attrs_.get('resource')}" + (f"/{sub}" if sub else "")
        allowed = name not in self.denied
        doc["status"] = {
            "allowed": allowed,
            **({} if allowed else {"reason": "denied by fake RBAC"}),
        }
        doc.setdefault("metadata", {})
        return json_response(doc, 201)

    def _node_obj(self, node: dict[str, Any]) -> dict[str, Any]:
        alloc = {"cpu": str(node["cpu"]), "memory": f"{node['memory']}Gi", "pods": "110",
                 "ephemeral-storage": "100Gi"}  # fmt: skip
        if node.get("gpus"):
            alloc["nvidia.com/gpu"] = str(node["gpus"])
        return {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": node["name"], "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, node["name"])),
                         "labels": {"kubernetes.io/hostname": node["name"], **node.get("labels", {})},
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"taints": node.get("taints") or None, "unschedulable": node.get("unschedulable")},
            "status": {"allocatable": alloc, "capacity": alloc,
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "lastHeartbeatTime": _now(), "lastTransitionTime": _now()}],
                       "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]},
        }  # fmt: skip

    def list_nodes(self, _: Request) -> Response:
        items = [self._node_obj(n) for n in self.nodes]
        return json_response(
            {"apiVersion": "v1", "kind": "NodeList", "metadata": {}, "items": items}
        )

    # -- generic namespaced objects ---------------------------------------------------

    def _list_doc(self, plural: str, items: list[dict[str, Any]]) -> Response:
        version = {"roles": "rbac.authorization.k8s.io/v1", "rolebindings": "rbac.authorization.k8s.io/v1",
                   "ingresses": "networking.k8s.io/v1"}.get(plural, "v1")  # fmt: skip
        return json_response(
            {"apiVersion": version, "kind": _PLURAL_KIND[plural] + "List",
             "metadata": {"resourceVersion": "1"}, "items": items}
        )  # fmt: skip

    def _select(self, request: Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        labels = (request.query.get("labelSelector") or [""])[0]
        fields = (request.query.get("fieldSelector") or [""])[0]
        return [o for o in items if labels_match(o["metadata"].get("labels") or {}, labels)
                and fields_match(o, fields)]  # fmt: skip

    def list(self, request: Request, plural: str) -> Response:
        ns = request.params["ns"]
        with self.lock:
            items = [o for (n, _), o in self.objects[plural].items() if n == ns]
            return self._list_doc(plural, self._select(request, json.loads(json.dumps(items))))

    def list_all(self, request: Request, plural: str) -> Response:
        with self.lock:
            items = json.loads(json.dumps(list(self.objects[plural].values())))
        return self._list_doc(plural, self._select(request, items))

    def read(self, request: Request, plural: str) -> Response:
        key = (request.params["ns"], request.params["name"])
        with self.lock:
            obj = self.objects[plural].get(key)
            if obj is None:
                return _status(404, "NotFound", f'{plural} "{key[1]}" not found')
            return json_response(obj)

    def create(self, request: Request, plural: str) -> Response:
        ns = request.params["ns"]
        if ns not in self.namespaces:
            return _status(404, "NotFound", f'namespaces "{ns}" not found')
        obj = request.json()
        meta = obj.setdefault("metadata", {})
        name = meta.get("name")
        if not name:
            return _status(422, "Invalid", f"{plural}: metadata.name: Required value")
        with self.lock:
            if (ns, name) in self.objects[plural]:
                return _status(409, "AlreadyExists", f'{plural} "{name}" already exists')
            meta.update(
                namespace=ns, uid=str(uuid.uuid4()), creationTimestamp=_now(), resourceVersion="1"
            )
            if plural == "pods":
                obj["status"] = {"phase": "Pending", "conditions": [], "qosClass": "Burstable"}
            if plural == "services":
                spec = obj.setdefault("spec", {})
                if spec.get("clusterIP") != "None":
                    spec["clusterIP"] = f"10.96.0.{len(self.objects['services']) + 10}"
                for port in spec.get("ports") or []:
                    if spec.get("type") in ("NodePort", "LoadBalancer"):
                        port["nodePort"] = (
                            30000 + len(self.objects["services"]) * 10 + port["port"] % 10
                        )
                lb = (
                    {"ingress": [{"ip": "127.0.0.1"}]} if spec.get("type") == "LoadBalancer" else {}
                )
                obj["status"] = {"loadBalancer": lb}
            if plural == "ingresses":
                obj["status"] = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}
            self.objects[plural][(ns, name)] = obj
            return json_response(obj, 201)

    def patch(self, request: Request, plural: str) -> Response:
        """Merge patch (the fake treats strategic-merge patches the same way)."""
        key = (request.params["ns"], request.params["name"])
        with self.lock:
            obj = self.objects[plural].get(key)
            if obj is None:
                return _status(404, "NotFound", f'{plural} "{key[1]}" not found')
            merge_patch(obj, request.json())
            return json_response(obj)

    def _remove(self, plural: str, key: tuple[str, str]) -> dict[str, Any] | None:
        """Delete one object, then (garbage collection) every object it owns."""
        with self.lock:
            obj = self.objects[plural].pop(key, None)
        if obj is None:
            return None
        if plural == "pods":
            obj["metadata"]["deletionTimestamp"] = _now()
            self._kill(obj)
            shutil.rmtree(self._pod_dir(obj), ignore_errors=True)
        uid = obj["metadata"]["uid"]
        with self.lock:
            owned = [
                (kind, k)
                for kind, store in self.objects.items()
                for k, o in store.items()
                if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or [])
            ]
        for kind, k in owned:
            self._remove(kind, k)
        return obj

    def delete(self, request: Request, plural: str) -> Response:
        key = (request.params["ns"], request.params["name"])
        obj = self._remove(plural, key)
        if obj is None:
            return _status(404, "NotFound", f'{plural} "{key[1]}" not found')
        if plural in ("roles", "rolebindings"):
            return json_response(
                {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
            )
        return json_response(obj)

    # -- the scheduler and kubelet ------------------------------------------------------

    def _event(self, pod: dict[str, Any], reason: str, message: str, kind: str = "Warning") -> None:
        meta = pod["metadata"]
        name = f"{meta['name']}.{uuid.uuid4().hex[:12]}"
        self.objects["events"][(meta["namespace"], name)] = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": meta["namespace"], "uid": str(uuid.uuid4()),
                         "creationTimestamp": _now()},
            "involvedObject": {"kind": "Pod", "name": meta["name"], "namespace": meta["namespace"],
                               "uid": meta["uid"], "apiVersion": "v1"},
            "reason": reason, "message": message, "type": kind, "count": 1,
            "firstTimestamp": _now(), "lastTimestamp": _now(),
            "source": {"component": "default-scheduler" if reason == "FailedScheduling" else "kubelet"},
        }  # fmt: skip

    @staticmethod
    def _requests(pod: dict[str, Any]) -> tuple[float, float, int]:
        cpus = mem = 0.0
        gpus = 0
        for c in pod["spec"]["containers"]:
            res = c.get("resources") or {}
            req, lim = res.get("requests") or {}, res.get("limits") or {}
            cpus += _quantity(req.get("cpu", 0))
            mem += _quantity(req.get("memory", 0)) / 2**30
            gpus += int(_quantity(lim.get("nvidia.com/gpu", req.get("nvidia.com/gpu", 0))))
        return cpus, mem, gpus

    def _fits(self, pod: dict[str, Any], node: dict[str, Any]) -> str | None:
        """``None`` when ``pod`` fits ``node`` now, else the scheduler's reason."""
        spec = pod["spec"]
        labels = self._node_obj(node)["metadata"]["labels"]
        terms = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                 .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms")  # fmt: skip
        if terms and not any(
            all(
                labels.get(e["key"]) in e.get("values", []) for e in t.get("matchExpressions") or []
            )
            for t in terms
        ):
            return "node(s) didn't match Pod's node affinity/selector"
        wanted = spec.get("nodeSelector") or {}
        if any(labels.get(k) != v for k, v in wanted.items()):
            return "node(s) didn't match Pod's node affinity/selector"
        tolerated = {t.get("key") for t in spec.get("tolerations") or []}
        for taint in node.get("taints") or []:
            if taint["key"] not in tolerated:
                return f"node(s) had untolerated taint {{{taint['key']}: {taint.get('value', '')}}}"
        cpus, mem, gpus = self._requests(pod)
        used = [0.0, 0.0, 0]
        for other in self.objects["pods"].values():
            if other is not pod and other["spec"].get("nodeName") == node["name"]:
                c, m, g = self._requests(other)
                used = [used[0] + c, used[1] + m, used[2] + g]
        if gpus > int(node.get("gpus", 0)) - used[2]:
            return "Insufficient nvidia.com/gpu"
        if cpus > float(node["cpu"]) - used[0] + 1e-9:
            return "Insufficient cpu"
        if mem > float(node["memory"]) - used[1] + 1e-9:
            return "Insufficient memory"
        return None

    def _schedule(self, pod: dict[str, Any]) -> None:
        reasons: dict[str, int] = {}
        for node in self.nodes:
            why = self._fits(pod, node)
            if why is None:
                pod["spec"]["nodeName"] = node["name"]
                pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "True",
                                                "lastTransitionTime": _now()}]  # fmt: skip
                return
            reasons[why] = reasons.get(why, 0) + 1
        detail = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
        message = f"0/{len(self.nodes)} nodes are available: {detail}."
        if (
            pod["status"].get("conditions") != []
            and pod["status"]["conditions"][0].get("message") == message
        ):
            return
        pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                        "message": message, "lastTransitionTime": _now()}]  # fmt: skip
        self._event(pod, "FailedScheduling", message)

    def _pod_dir(self, pod: dict[str, Any]) -> Path:
        return self.root / pod["metadata"]["namespace"] / pod["metadata"]["name"]

    def pod_env(self, pod: dict[str, Any]) -> dict[str, str]:
        folder = self._pod_dir(pod)
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("STIX_", "SKYPILOT_", "KUBE"))
        }
        for item in pod["spec"]["containers"][0].get("env") or []:
            env[item["name"]] = str(item.get("value", ""))
        env.update(HOME=str(folder / "home"), HOSTNAME=pod["metadata"]["name"],
                   KUBERNETES_SERVICE_HOST="127.0.0.1", KUBERNETES_SERVICE_PORT=self.url.rsplit(":", 1)[1],
                   STIX_K8S_SA_DIR=str(folder / "serviceaccount"))  # fmt: skip
        env[NODE_MARKER] = str(folder)
        return env

    def _start(self, pod: dict[str, Any]) -> None:
        container = pod["spec"]["containers"][0]
        status: dict[str, Any] = {"name": container["name"], "image": container["image"],
                                  "imageID": "", "ready": False, "restartCount": 0}  # fmt: skip
        if container["image"] in self.unpullable:
            message = f'failed to pull image "{container["image"]}": not found'
            status["state"] = {"waiting": {"reason": "ErrImagePull", "message": message}}
            pod["status"]["containerStatuses"] = [status]
            self._event(pod, "Failed", message)
            return
        folder = self._pod_dir(pod)
        (folder / "home").mkdir(parents=True, exist_ok=True)
        sa = folder / "serviceaccount"
        sa.mkdir(exist_ok=True)
        token = f"sa-{pod['metadata']['uid']}"
        (sa / "token").write_text(token)
        (sa / "namespace").write_text(pod["metadata"]["namespace"])
        assert self.ca_file is not None
        shutil.copy(self.ca_file, sa / "ca.crt")
        self.tokens.add(token)
        self.accounts[token] = (
            pod["metadata"]["namespace"],
            pod["spec"].get("serviceAccountName") or "default",
        )
        command = list(container.get("command") or []) + list(container.get("args") or [])
        proc = subprocess.Popen(command or ["sleep", "infinity"], cwd=folder / "home", env=self.pod_env(pod),
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        self._procs[pod["metadata"]["uid"]] = proc
        status.update(ready=True, started=True, imageID=f"sha256:{uuid.uuid4().hex}", containerID="fake://1",
                      state={"running": {"startedAt": _now()}})  # fmt: skip
        pod["status"].update(
            phase="Running", podIP=f"127.0.1.{next(self._ips)}", hostIP="127.0.0.1", startTime=_now(),
            containerStatuses=[status],
        )  # fmt: skip
        pod["status"]["conditions"] += [
            {"type": "Ready", "status": "True", "lastTransitionTime": _now()}
        ]

    def _kubelet(self) -> None:
        while not self._stop.wait(0.2):
            with self.lock:
                for pod in list(self.objects["pods"].values()):
                    status = pod["status"]
                    if not pod["spec"].get("nodeName"):
                        self._schedule(pod)
                        continue
                    if status["phase"] == "Pending" and not status.get("containerStatuses"):
                        self._start(pod)
                    proc = self._procs.get(pod["metadata"]["uid"])
                    if (
                        status["phase"] == "Running"
                        and proc is not None
                        and proc.poll() is not None
                    ):
                        code = proc.returncode
                        status["phase"] = "Succeeded" if code == 0 else "Failed"
                        status["containerStatuses"][0].update(
                            ready=False,
                            state={"terminated": {"exitCode": code, "reason": "Completed"}},
                        )

    def _kill(self, pod: dict[str, Any]) -> None:
        proc = self._procs.pop(pod["metadata"]["uid"], None)
        kill_node(self._pod_dir(pod), grace=1.0)
        if proc is not None:
            proc.wait(timeout=10)

    # -- exec ---------------------------------------------------------------------------

    def exec(self, request: Request) -> Any:
        key = (request.params["ns"], request.params["name"])
        with self.lock:
            pod = self.objects["pods"].get(key)
            if pod is None:
                return _status(404, "NotFound", f'pods "{key[1]}" not found')
            if pod["status"]["phase"] != "Running":
                return _status(400, "BadRequest", f"pod {key[1]} is not running")
            env = self.pod_env(pod)
        command = request.query.get("command") or []
        if "upgrade" not in request.headers.get("connection", "").lower():
            return _status(400, "BadRequest", "Upgrade request required")
        offered = [p.strip() for p in request.headers.get("sec-websocket-protocol", "").split(",")]
        protocol = next((p for p in self.exec_protocols if p in offered), None)
        if protocol is None:
            return _status(400, "BadRequest", "no supported websocket subprotocol")
        stdin = (request.query.get("stdin") or ["false"])[0] in ("true", "1", "True")

        def serve(ws: WebSocket) -> None:
            run_exec(ws, command, env, stdin, protocol == "v5.channel.k8s.io")

        return Upgrade(protocol, serve)
