"""The serve SDK: what ``stix serve`` does, as Python functions.

    from stix_serve import sdk
    service = sdk.up("examples/service.yaml", service_name="hello")
    sdk.wait(service["name"], "READY")
    print(sdk.status(["hello"])[0]["endpoint"])
    sdk.down(["hello"])

Services run on the serve controller, a STIX cluster (``local`` by default, see
``serve.controller.resources``) that this module launches on first use. Every call
reaches the controller through the cluster's own command runner.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shlex
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stix.errors import StixError

CONTROLLER_PREFIX = "stix-serve-controller"
UPDATE_MODES = ("rolling", "blue_green")
# Environment the controller's replica launches need to reach the user's clouds
# (credentials, endpoints, profiles): a local controller's jobs get no client environment.
FORWARDED_ENV = ("AWS_", "AZURE_", "GOOGLE_", "CLOUDSDK_", "KUBECONFIG", "RUNPOD_", "LAMBDA_")


class ServeError(StixError):
    """A serve request the controller refused, or a service in the wrong state."""


def controller_name() -> str:
    """``stix-serve-controller-<hash of the user>``: one controller per user."""
    from stix.backend.jobspec import current_user

    digest = hashlib.sha256(current_user().encode()).hexdigest()[:8]
    return f"{CONTROLLER_PREFIX}-{digest}"


# the controller cluster ------------------------------------------------------


def _controller_task(config: Any) -> Any:
    from stix.task import Task

    resources = config.get("serve.controller.resources") or {"cloud": "local"}
    return Task.from_yaml_config({"name": "serve-controller", "resources": resources})


def _controller_record(create: bool) -> Any:
    """The controller cluster's record (launched or started when ``create``); None if absent."""
    from stix import sdk as core
    from stix.config import load_config
    from stix.state.clusters import ClusterStore

    name = controller_name()
    record = ClusterStore().get(name)
    if record is not None and record.status == "UP":
        return record
    if not create:
        return record
    config = load_config()
    autostop = config.get("serve.controller.autostop", 10)
    minutes = autostop.get("idle_minutes", 10) if isinstance(autostop, dict) else autostop
    down = bool(autostop.get("down")) if isinstance(autostop, dict) else False
    if record is None:
        core.launch(
            _controller_task(config),
            cluster_name=name,
            idle_minutes_to_autostop=float(minutes),
            down=down,
        )
    else:
        core.start(name, idle_minutes_to_autostop=float(minutes), down=down)
    record = ClusterStore().get(name)
    assert record is not None
    return record


def _handle(record: Any) -> Any:
    from stix.backend.handle import ClusterHandle

    return ClusterHandle.from_dict(record.handle or {})


def _push_config(record: Any) -> None:
    """Give the controller this user's STIX config: serve settings, the clouds it may use
    and their settings (a replica on ``infra: aws`` needs ``aws.ssh_user``, regions, ...)."""
    import yaml
    from stix.config import load_config

    data = dict(load_config().data)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        yaml.safe_dump(data, fh)
    try:
        os.chmod(fh.name, 0o600)
        _handle(record).head_runner().put(Path(fh.name), "~/.stix/config.yaml")
    finally:
        os.unlink(fh.name)


def _ensure_controller() -> Any:
    """An UP controller cluster running the controller process; returns its record."""
    record = _controller_record(create=True)
    _push_config(record)
    _ensure_process(record)
    return record


def _ensure_process(record: Any) -> None:
    """Start the controller process on the controller cluster unless it runs already.

    Every serve command checks this, so a controller process that died (killed, node
    restarted) comes back and resumes its services from the database.
    """
    from stix import sdk as core
    from stix.task import Task

    if not _remote(record, "ping", {}).get("running"):
        python = shlex.quote(_handle(record).python)
        # Replicas are launched by the controller with this machine's cloud credentials
        # and endpoints, passed as secrets (never logged or shown).
        forwarded: dict[str, str | None] = {
            k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV)
        }
        daemon = Task(
            name="serve-controller",
            run=f"exec {python} -m stix_serve.controller",
            secrets=forwarded,
        )
        core.exec(daemon, record.name, detach_run=True)


def _remote(
    record: Any,
    op: str,
    request: dict[str, Any],
    raw: bool = False,
    stream: Callable[[bytes], None] | None = None,
) -> Any:
    """Run ``stix_serve.remote OP`` on the controller; its JSON reply (text when ``raw``,
    nothing when its output goes to ``stream`` as it comes)."""
    handle = _handle(record)
    result = handle.head_runner().run(
        [handle.python, "-m", "stix_serve.remote", op], input=json.dumps(request), stream=stream
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise ServeError(
            f"serve controller {record.name}: {op} failed: {detail[-1] if detail else '?'}",
            hint="is stix-serve installed on the controller? see: stix serve logs --controller",
        )
    if raw:
        return result.stdout
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    reply = json.loads(lines[-1]) if lines else {}
    if "error" in reply:
        raise ServeError(reply["error"])
    return reply


def _existing_controller(ensure: bool = True) -> Any:
    record = _controller_record(create=False)
    if record is None or record.status != "UP":
        return None
    if ensure:
        _ensure_process(record)
    return record


# shipping a task ---------------------------------------------------------------


def _load(task: Any, env: dict[str, str] | None = None) -> Any:
    from stix.task import Task, load_task

    if isinstance(task, Task):
        return task
    overrides: dict[str, str | None] = dict(env or {})
    return load_task(str(task), env_overrides=overrides or None)


def _absolute(path: str) -> str:
    if "://" in path:
        return path
    return str(Path(path).expanduser().resolve())


def _service_payload(task: Any) -> dict[str, Any]:
    """The task the replicas run, its ``service:`` block, and what status may show."""
    if task.service is None:
        raise ServeError("the task has no 'service:' section", hint="see stix-serve/README.md")
    if task.service.pool:
        raise ServeError("service.pool is for managed-job pools, not services")
    ports = sorted({p for r in task.resources for p in r.ports_list()})
    port = task.service.ports
    if port is None:
        if len(ports) != 1:
            raise ServeError(
                "service: set 'ports' (the replica port), or give resources.ports exactly one "
                f"port (found {ports or 'none'})"
            )
        port = ports[0]
    full = task.to_yaml_config(reveal_secrets=True)
    full.pop("service", None)
    if isinstance(full.get("workdir"), str):
        full["workdir"] = _absolute(full["workdir"])
    mounts = full.get("file_mounts") or {}
    for dst, src in list(mounts.items()):
        if isinstance(src, str):
            mounts[dst] = _absolute(src)
    resources = full.setdefault("resources", {})
    if port not in ports and isinstance(resources, dict):  # open it on the replica clusters
        resources["ports"] = [*(resources.get("ports") or []), port]
    shown = task.to_yaml_config()
    service = shown.pop("service")
    use_spot = any(r.use_spot for r in task.resources)
    spec = {"service": service, "task": shown, "port": port, "use_spot": use_spot}
    return {"task": full, "spec": spec}


def _tls_files(record: Any, name: str, task: Any) -> dict[str, str] | None:
    tls = task.service.tls
    if tls is None:
        return None
    runner = _handle(record).head_runner()
    out = {}
    for key, source in (("certfile", tls.certfile), ("keyfile", tls.keyfile)):
        path = Path(source).expanduser()
        if not path.is_file():
            raise ServeError(f"service.tls.{key}: no such file {source}")
        dest = f"~/.stix/serve/tls/{name}/{key}.pem"
        runner.put(path, dest)
        out[key] = dest
    return out


# the operations ------------------------------------------------------------------


def up(
    task: Any, service_name: str | None = None, *, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Start a service from a task with a ``service:`` section; returns name and endpoint.

    Returns once the load balancer listens; replicas come up afterwards (see :func:`wait`).
    """
    from stix.sdk.locks import check_name

    loaded = _load(task, env)
    name = check_name(service_name or loaded.name or f"sky-service-{secrets.token_hex(2)}")
    payload = _service_payload(loaded)
    record = _ensure_controller()
    handle = _handle(record)
    local = handle.cloud == "local"
    host = handle.ips[0] if local else "0.0.0.0"
    request = {
        **payload,
        "name": name,
        "host": host,
        "endpoint_host": handle.ips[0],
        "tls": _tls_files(record, name, loaded),
    }
    reply = _remote(record, "up", request)
    service = wait(name, lambda s: s["status"] != "CONTROLLER_INIT", timeout=60)
    if service["status"] == "CONTROLLER_FAILED":
        raise ServeError(f"service {name}: {service.get('message') or 'controller failed'}")
    return {"name": name, "endpoint": reply["endpoint"], "version": reply["version"]}


def update(
    service_name: str, task: Any, *, mode: str = "rolling", env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Roll a service to a new version of its task (``rolling`` or ``blue_green``)."""
    if mode not in UPDATE_MODES:
        raise ServeError(f"invalid update mode {mode!r}; use one of: {', '.join(UPDATE_MODES)}")
    record = _existing_controller()
    if record is None:
        raise ServeError(f"service {service_name!r} does not exist (no serve controller is up)")
    payload = _service_payload(_load(task, env))
    return dict(_remote(record, "update", {**payload, "name": service_name, "mode": mode}))


def status(service_names: list[str] | None = None) -> list[dict[str, Any]]:
    """Services with their replicas (all of them when no names are given)."""
    record = _existing_controller(ensure=False)
    if record is None:
        if service_names:
            raise ServeError(f"no such service: {', '.join(service_names)}")
        return []
    reply = _remote(record, "status", {"names": service_names or []})
    if reply["services"] and not reply.get("running"):
        _ensure_process(record)  # services but no controller process: bring it back
    if reply.get("missing"):
        raise ServeError(f"no such service: {', '.join(reply['missing'])}")
    return list(reply["services"])


def live_services() -> list[str]:
    """Names of the services the controller still knows (a service is forgotten only once
    every replica cluster of it is gone)."""
    record = _existing_controller(ensure=False)
    if record is None:
        return []
    return [s["name"] for s in _remote(record, "status", {})["services"]]


def wait(
    service_name: str,
    until: str | Callable[[dict[str, Any]], bool] = "READY",
    *,
    timeout: float = 600,
    poll: float = 0.5,
) -> dict[str, Any]:
    """Poll the service until its status is ``until`` (or ``until(service)`` holds)."""
    check = until if callable(until) else (lambda s: s["status"] == until)
    deadline = time.monotonic() + timeout
    last: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        found = status([service_name])
        last = found[0]
        if check(last):
            return last
        time.sleep(poll)
    state = last["status"] if last else "unknown"
    raise ServeError(f"service {service_name}: still {state} after {timeout:g}s")


def down(
    service_names: list[str] | None = None,
    *,
    all: bool = False,
    purge: bool = False,
    wait_gone: bool = True,
    timeout: float = 600,
) -> list[str]:
    """Shut services down: replicas drained and torn down, endpoint closed."""
    if not service_names and not all:
        raise ServeError("name the services to take down, or use all=True")
    record = _existing_controller()
    if record is None:
        if all:
            return []
        raise ServeError(f"no such service: {', '.join(service_names or [])}")
    names = list(
        _remote(record, "down", {"names": service_names, "all": all, "purge": purge})["names"]
    )
    if wait_gone and names:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = {s["name"]: s for s in _remote(record, "status", {})["services"]}
            pending = [n for n in names if n in left]
            failed = [n for n in pending if left[n]["status"] == "FAILED_CLEANUP"]
            if failed:
                raise ServeError(
                    f"could not remove every replica of: {', '.join(failed)}",
                    hint="stix serve down --purge " + " ".join(failed),
                )
            if not pending:
                break
            time.sleep(0.5)
        else:
            raise ServeError(f"services still shutting down after {timeout:g}s: {pending}")
    return names


def logs(
    service_name: str,
    replica_id: int | None = None,
    *,
    kind: str = "replica",
    follow: bool = False,
    write: Callable[[bytes], None] | None = None,
) -> str:
    """A service's controller log, load-balancer log, or one replica's log.

    With ``write``, output goes there as it arrives (``follow`` keeps a replica's log
    open until its job ends) and the returned text is empty.
    """
    record = _existing_controller()
    if record is None:
        raise ServeError(f"service {service_name!r} does not exist (no serve controller is up)")
    if kind == "replica" and replica_id is None:
        raise ServeError("name a replica id, or ask for --controller or --load-balancer logs")
    request = {"name": service_name, "kind": kind, "replica_id": replica_id, "follow": follow}
    if write is not None:
        first = True

        def checked(data: bytes) -> None:
            nonlocal first
            if first and data.startswith(b'{"error"'):
                raise ServeError(json.loads(data.splitlines()[0])["error"])
            first = False
            write(data)

        _remote(record, "logs", request, raw=True, stream=checked)
        return ""
    text = str(_remote(record, "logs", request, raw=True))
    if text.startswith('{"error"'):
        raise ServeError(json.loads(text.splitlines()[0])["error"])
    return text


__all__ = ["ServeError", "controller_name", "down", "logs", "status", "up", "update", "wait"]
