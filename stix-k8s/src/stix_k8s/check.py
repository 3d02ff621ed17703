"""``stix check kubernetes``: which contexts can be used, and what is wrong with the others.

A context is usable when its API server answers ``/version`` and the user may create
pods, exec into them, and manage services in the configured namespace (asked with
``SelfSubjectAccessReview``).
"""

from __future__ import annotations

from stix.errors import StixError
from stix.interfaces import CheckResult

from stix_k8s import contexts

# (verb, resource, subresource) the provisioner and the runner need.
NEEDED = (
    ("create", "pods", ""),
    ("delete", "pods", ""),
    ("list", "pods", ""),
    ("create", "pods", "exec"),
    ("create", "services", ""),
    ("delete", "services", ""),
    ("create", "serviceaccounts", ""),
    ("create", "roles", ""),
    ("create", "rolebindings", ""),
)
_GROUPS = {"roles": "rbac.authorization.k8s.io", "rolebindings": "rbac.authorization.k8s.io"}


def missing_verbs(context: str, namespace: str) -> list[str]:
    """The needed verbs the user lacks in ``namespace`` (``create pods/exec``...)."""
    from kubernetes import client

    api = client.AuthorizationV1Api(contexts.api_client(context))
    missing = []
    for verb, resource, sub in NEEDED:
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {
                    "namespace": namespace,
                    "verb": verb,
                    "group": _GROUPS.get(resource, ""),
                    "resource": resource,
                    "subresource": sub,
                }
            },
        }
        result = api.create_self_subject_access_review(review)  # type: ignore[arg-type]
        if not (result.status and result.status.allowed):
            missing.append(f"{verb} {resource}{'/' + sub if sub else ''}")
    return missing


def check_context(context: str) -> str | None:
    """``None`` when ``context`` is usable, else why not (one line)."""
    from kubernetes import client

    from stix_k8s.errors import api_error

    try:
        namespace = contexts.namespace(context)
        version = client.VersionApi(contexts.api_client(context)).get_code()
        lacking = missing_verbs(context, namespace)
    except StixError as exc:
        return exc.message
    except Exception as exc:
        return api_error(exc, context, "check").message
    if lacking:
        return f"kubernetes/{context}: RBAC forbids {', '.join(lacking)} in namespace {namespace}"
    del version
    return None


def check() -> CheckResult:
    try:
        allowed = contexts.allowed_contexts()
        names, _ = contexts.kubeconfig_contexts()
    except StixError as exc:
        return CheckResult(False, exc.message, hint=exc.hint)
    if not allowed:
        return CheckResult(
            False,
            f"no kube context: {contexts.kubeconfig_path()} has none and this is not a pod",
            hint="point $KUBECONFIG at a kubeconfig, or set kubernetes.allowed_contexts",
        )
    usable, problems = [], []
    for context in allowed:
        if context != contexts.IN_CLUSTER and context not in names:
            problems.append(f"{context}: not in {contexts.kubeconfig_path()}")
            continue
        reason = check_context(context)
        if reason is None:
            usable.append(context)
        else:
            problems.append(f"{context}: {reason.removeprefix(f'kubernetes/{context}: ')}")
    parts = []
    if usable:
        parts.append("usable contexts: " + ", ".join(usable))
    if problems:
        parts.append("unusable: " + "; ".join(problems))
    others = [n for n in names if n not in allowed]
    if others:
        parts.append("not allowed by kubernetes.allowed_contexts: " + ", ".join(others))
    detail = "; ".join(parts)
    if not usable:
        return CheckResult(False, detail, hint="fix the contexts above (see stix-k8s/README.md)")
    return CheckResult(True, detail)
