"""Kube contexts as regions: which ones may be used, their settings, and API clients for them.

A context comes from the kubeconfig (``$KUBECONFIG`` or ``~/.kube/config``), or is the
pseudo-context ``in-cluster`` when STIX itself runs in a pod with a service account.
Settings are read from the ``kubernetes:`` config section, with per-context overrides
under ``kubernetes.context_configs.<context>``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from stix.errors import ConfigError, CredentialsError

IN_CLUSTER = "in-cluster"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

# Minutes a pod may stay unschedulable before the attempt counts as out of capacity.
DEFAULT_PROVISION_TIMEOUT = 180.0


def _config() -> Any:
    from stix.config import load_config

    return load_config()


def kubeconfig_path() -> Path:
    """The kubeconfig in use: the first file of ``$KUBECONFIG``, else ``~/.kube/config``."""
    env = os.environ.get("KUBECONFIG")
    if env:
        return Path(env.split(os.pathsep)[0]).expanduser()
    return Path("~/.kube/config").expanduser()


def in_cluster() -> bool:
    """True when running inside a pod that has a service account token."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and Path(SA_DIR, "token").is_file()


def kubeconfig_contexts() -> tuple[list[str], str | None]:
    """Context names of the kubeconfig and the current one (empty when there is none)."""
    path = kubeconfig_path()
    if not path.is_file():
        return [], None
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"kubeconfig {path}: cannot be read: {exc}") from None
    names = [c.get("name") for c in data.get("contexts") or [] if isinstance(c, dict)]
    return [n for n in names if isinstance(n, str)], data.get("current-context")


def allowed_contexts() -> list[str]:
    """Contexts STIX may use, in preference order.

    ``kubernetes.allowed_contexts`` (a list, or ``all``) when set; else the current
    kubeconfig context; else ``in-cluster`` inside a pod.
    """
    names, current = kubeconfig_contexts()
    allowed = _config().get("kubernetes.allowed_contexts")
    if allowed == "all":
        return names + ([IN_CLUSTER] if in_cluster() else [])
    if isinstance(allowed, list):
        return [str(a) for a in allowed]
    if allowed is not None:
        raise ConfigError("kubernetes.allowed_contexts must be a list of context names or 'all'")
    if current:
        return [current]
    return [IN_CLUSTER] if in_cluster() else []


def setting(context: str | None, key: str, default: Any = None) -> Any:
    """``kubernetes.context_configs.<context>.<key>``, else ``kubernetes.<key>``, else default."""
    config = _config()
    if context is not None:
        per = config.get("kubernetes.context_configs") or {}
        if isinstance(per, dict) and isinstance(per.get(context), dict) and key in per[context]:
            return per[context][key]
    return config.get(f"kubernetes.{key}", default)


def namespace(context: str | None) -> str:
    """The namespace pods go to: config, else the context's own, else ``default``."""
    configured = setting(context, "namespace")
    if configured:
        return str(configured)
    if context == IN_CLUSTER:
        path = Path(SA_DIR, "namespace")
        if path.is_file():
            return path.read_text().strip() or "default"
        return "default"
    path = kubeconfig_path()
    if path.is_file() and context:
        import yaml

        data = yaml.safe_load(path.read_text()) or {}
        for entry in data.get("contexts") or []:
            if isinstance(entry, dict) and entry.get("name") == context:
                return str((entry.get("context") or {}).get("namespace") or "default")
    return "default"


def provision_timeout(context: str | None) -> float:
    """Seconds to wait for pods to be scheduled and started before giving up."""
    value = setting(context, "provision_timeout", DEFAULT_PROVISION_TIMEOUT)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigError("kubernetes.provision_timeout must be a number of seconds") from None
    return seconds


_CLIENTS: dict[tuple[str, str], Any] = {}


def api_client(context: str) -> Any:
    """A ``kubernetes.client.ApiClient`` for ``context`` (cached per kubeconfig and context).

    :raises stix.errors.CredentialsError: the context is missing or its config is broken.
    """
    from kubernetes import client, config

    key = (str(kubeconfig_path()), context)
    cached = _CLIENTS.get(key)
    if cached is not None:
        return cached
    configuration = client.Configuration()
    try:
        if context == IN_CLUSTER:
            from kubernetes.config.incluster_config import InClusterConfigLoader

            InClusterConfigLoader(
                token_filename=str(Path(SA_DIR, "token")), cert_filename=str(Path(SA_DIR, "ca.crt"))
            ).load_and_set(configuration)
        else:
            config.load_kube_config(
                config_file=str(kubeconfig_path()),
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
    except (config.ConfigException, OSError, ValueError) as exc:
        raise CredentialsError(
            f"kubernetes/{context}: cannot load its config: {exc}",
            hint=f"check the context in {kubeconfig_path()} (kubectl config get-contexts)",
        ) from None
    made = client.ApiClient(configuration)
    _CLIENTS[key] = made
    return made


def core_api(context: str) -> Any:
    """``CoreV1Api`` for ``context``."""
    from kubernetes import client

    return client.CoreV1Api(api_client(context))


def networking_api(context: str) -> Any:
    """``NetworkingV1Api`` for ``context`` (ingresses)."""
    from kubernetes import client

    return client.NetworkingV1Api(api_client(context))


def stream_api(context: str) -> Any:
    """A ``CoreV1Api`` of its own for one exec stream.

    ``kubernetes.stream.stream`` swaps the request method of the client it is given for
    the duration of the call, so a shared client would send other threads' requests as
    websocket upgrades; every stream gets a fresh client on the cached configuration.
    """
    from kubernetes import client

    return client.CoreV1Api(client.ApiClient(api_client(context).configuration))


def rbac_api(context: str) -> Any:
    """``RbacAuthorizationV1Api`` for ``context``."""
    from kubernetes import client

    return client.RbacAuthorizationV1Api(api_client(context))


def reset_clients() -> None:
    """Forget cached clients (after the kubeconfig changed)."""
    _CLIENTS.clear()
