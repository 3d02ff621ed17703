"""Waiting for a cluster's pods to run, and reading why they do not.

An unschedulable pod (the scheduler's ``FailedScheduling`` event: insufficient GPUs or
CPU, untolerated taints) becomes a capacity error once ``kubernetes.provision_timeout``
passes, so failover moves on to the next context or cloud. An image that cannot be
pulled stops failover at once: no other place would pull it either.
"""

from __future__ import annotations

import time
from typing import Any

from stix.errors import ClusterError, NoCapacityError, ProvisionError

from stix_k8s import contexts

POLL = 0.5
IMAGE_ERRORS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)
CONTAINER_ERRORS = frozenset(
    {"CreateContainerConfigError", "CreateContainerError", "CrashLoopBackOff"}
)


def scheduling_message(context: str, namespace: str, pod: Any) -> str | None:
    """Why the scheduler has not placed ``pod``: its latest FailedScheduling event, if any."""
    for cond in (pod.status.conditions if pod.status else None) or []:
        if cond.type == "PodScheduled" and cond.status == "False":
            break
    else:
        return None
    api = contexts.core_api(context)
    try:
        events = api.list_namespaced_event(
            namespace,
            field_selector=f"involvedObject.kind=Pod,involvedObject.name={pod.metadata.name},"
            "reason=FailedScheduling",
        ).items
    except Exception:
        events = []
    if events:
        latest = max(
            events, key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp
        )
        return str(latest.message)
    return str(cond.message or cond.reason or "unschedulable")


def container_problem(pod: Any) -> tuple[str, str] | None:
    """``(reason, message)`` when the pod's container cannot start."""
    for status in (pod.status.container_statuses if pod.status else None) or []:
        waiting = status.state.waiting if status.state else None
        if waiting and (waiting.reason in IMAGE_ERRORS or waiting.reason in CONTAINER_ERRORS):
            return str(waiting.reason), str(waiting.message or "")
        terminated = status.state.terminated if status.state else None
        if terminated:
            return "Terminated", f"container exited with code {terminated.exit_code}"
    return None


def wait_running(context: str, namespace: str, cluster: str, *, timeout: float) -> None:
    """Block until every pod of ``cluster`` is Running with its container started.

    :raises stix.errors.NoCapacityError: pods still unschedulable after ``timeout``.
    :raises stix.errors.ProvisionError: (scope ``abort``) the image cannot be pulled.
    """
    from stix_k8s.provisioner import list_pods

    deadline = time.monotonic() + timeout
    while True:
        pods = list_pods(context, namespace, cluster)
        if not pods:
            raise ClusterError(f"kubernetes/{context}: the pods of {cluster} disappeared")
        waiting: dict[str, str] = {}
        for pod in pods:
            phase = pod.status.phase if pod.status else None
            problem = container_problem(pod)
            if problem and problem[0] in IMAGE_ERRORS:
                image = pod.spec.containers[0].image
                raise ProvisionError(
                    f"kubernetes/{context}: image {image!r} cannot be pulled: {problem[1] or problem[0]}",
                    hint="check the image name and kubernetes.image_pull_secrets",
                    scope="abort",
                )
            if problem or phase in ("Failed", "Succeeded"):
                reason, message = problem or (phase or "", "")
                raise ProvisionError(
                    f"kubernetes/{context}: pod {pod.metadata.name} failed to start: {reason} {message}".rstrip(),
                    scope="region",
                )
            if phase == "Running" and all(
                s.ready or (s.state and s.state.running)
                for s in pod.status.container_statuses or []
            ):
                continue
            waiting[pod.metadata.name] = scheduling_message(context, namespace, pod) or ""
        if not waiting:
            return
        if time.monotonic() > deadline:
            unschedulable = {n: m for n, m in waiting.items() if m}
            if unschedulable:
                name, message = next(iter(unschedulable.items()))
                raise NoCapacityError(
                    f"kubernetes/{context}: pod {name} could not be scheduled within "
                    f"{timeout:g} s: {message}",
                    hint="free capacity on the cluster, or raise kubernetes.provision_timeout",
                    scope="region",
                )
            raise ProvisionError(
                f"kubernetes/{context}: pods {', '.join(sorted(waiting))} not running after "
                f"{timeout:g} s",
                scope="region",
            )
        time.sleep(POLL)
