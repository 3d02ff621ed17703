"""Blocking work the controller hands to its thread pool: launch, check, save logs, tear down.

Each function is safe to run again after a crash: clusters are found by name (the
idempotency key), and teardown succeeds when there is nothing left to remove.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from stix_jobs import states

# Read the aggregated logs of some agent jobs in one command on a node.
_READ_LOGS = (
    "import json,sys\n"
    "out={}\n"
    "for p in sys.argv[1:]:\n"
    "    try:\n"
    "        out[p]=open(p,'rb').read()[-%d:].decode('utf-8','replace')\n"
    "    except OSError:\n"
    "        out[p]=None\n"
    "print(json.dumps(out))\n"
)
MAX_LOG_BYTES = 8 * 1024 * 1024


class PrecheckError(Exception):
    """The request can never be met (infeasible resources, invalid task): no retry."""


class CapacityError(Exception):
    """No place could take the job now: retry with back-off."""


@attrs.frozen
class Launched:
    """A task's cluster is up and its job submitted."""

    agent_job_id: int
    infra: str


def build_task(doc: dict[str, Any], envs: dict[str, str]) -> Any:
    """The ``Task`` of one spec document with the managed-job variables added."""
    from stix.task import Task

    config = dict(doc)
    config["envs"] = {**(config.get("envs") or {}), **envs}
    return Task.from_yaml_config(config)


def _pinned(task: Any, infra: str) -> Any:
    from stix.cli.task_options import apply_overrides

    return apply_overrides(task, {"infra": infra})


def _user_pinned(task: Any) -> bool:
    return any(r.region or r.zone for r in task.resources)


def placements(task: Any, strategy: str, last_infra: str | None) -> list[Any]:
    """Tasks to try in order for a (re)launch under a recovery strategy.

    FAILOVER retries the previous cloud and region first, then anywhere; EAGER_NEXT_REGION
    moves to the best placement outside the previous region first, then anywhere.
    """
    if not last_infra or _user_pinned(task):
        return [task]
    cloud, _, rest = last_infra.partition("/")
    region = rest.split("/")[0] or None
    if strategy == states.FAILOVER:
        return [_pinned(task, f"{cloud}/{region}" if region else cloud), task]
    from stix.errors import StixError
    from stix.optimizer import Blocked, optimize

    try:
        plan = optimize(task, blocked=(Blocked(cloud, region),), launchable_only=True)
    except StixError:
        return [task]
    chosen = plan.tasks[0].chosen
    where = "/".join(p for p in (chosen.cloud, chosen.region) if p)
    return [_pinned(task, where), task]


def precheck(task: Any) -> None:
    """Fail fast on a request no cloud can meet (FAILED_PRECHECKS)."""
    from stix.errors import StixError
    from stix.optimizer import optimize

    try:
        optimize(task, launchable_only=True)
    except StixError as exc:
        raise PrecheckError(exc.message) from None


def agent_spec(task: Any, task_id: str, extra_envs: dict[str, str], name: str) -> dict[str, Any]:
    """The node agent's job spec for one attempt of a managed task."""
    from stix.backend.jobspec import job_spec

    spec = job_spec(task, with_setup=True)
    spec["name"] = name
    spec["task_id"] = task_id
    spec["extra_envs"] = extra_envs
    return spec


def _handle(cluster: str) -> Any:
    from stix.backend.handle import ClusterHandle
    from stix.sdk.clusters import require_up

    return ClusterHandle.from_dict(require_up(cluster).handle or {})


def _client(cluster: str) -> Any:
    from stix.backend.runtime import client

    return client(_handle(cluster))


def _infra(cluster: str) -> str:
    from stix.state.clusters import ClusterStore

    record = ClusterStore().get(cluster)
    if record is None:
        return ""
    return "/".join(p for p in (record.cloud, record.region, record.zone) if p)


def find_agent_job(cluster: str, agent_name: str) -> int | None:
    """The id of the agent job named ``agent_name`` on an UP cluster, if it was submitted."""
    from stix.state.clusters import UP, ClusterStore

    record = ClusterStore().get(cluster)
    if record is None or record.status != UP:
        return None
    from stix.errors import StixError

    try:
        jobs = _client(cluster).call("queue")["jobs"]
    except (StixError, OSError):
        return None
    ids = [int(j["job_id"]) for j in jobs if j.get("name") == agent_name]
    return max(ids) if ids else None


def launch(
    cluster: str,
    tasks: list[Any],
    spec: dict[str, Any],
    *,
    autodown_minutes: float,
) -> Launched:
    """Bring ``cluster`` up with the first placement that works, then submit the job.

    A cluster left by an earlier attempt under the same name is reused if it is UP and
    already runs this attempt's job (``spec["name"]``); otherwise it is removed first.
    """
    from stix.errors import ProvisionError, ResourcesUnavailableError
    from stix.sdk import autostop
    from stix.sdk.launcher import launch as sdk_launch
    from stix.state.clusters import UP, ClusterStore

    existing = find_agent_job(cluster, spec["name"])
    if existing is not None:
        return Launched(existing, _infra(cluster))
    record = ClusterStore().get(cluster)
    if record is not None and record.status != UP:
        teardown(cluster)
    reasons = []
    for task in tasks:
        try:
            sdk_launch(task.copy(run=None, setup=None), cluster, detach_run=True)
            break
        except (ResourcesUnavailableError, ProvisionError) as exc:
            reasons.append(exc.message)
    else:
        raise CapacityError(reasons[-1] if reasons else "no capacity")
    autostop(cluster, autodown_minutes, down=True)  # leak guard should this controller vanish
    [job_id] = _client(cluster).submit([spec])
    return Launched(job_id, _infra(cluster))


def teardown(cluster: str) -> None:
    """Remove ``cluster`` and everything it holds; nothing to do when it is already gone."""
    from stix.errors import StixError
    from stix.sdk import down
    from stix.state.clusters import ClusterStore

    if ClusterStore().get(cluster) is None:
        return
    try:
        down(cluster)
    except StixError:
        down(cluster, purge=True)


@attrs.frozen
class Check:
    """What one look at a running task found.

    ``kind``: ``running``, ``done`` (agent job ended, cluster healthy), ``preempted``
    (the cloud says the cluster is not UP) or ``silent`` (agent unreachable, cluster UP).
    """

    kind: str
    status: str | None = None
    exit_codes: tuple[int, ...] = ()
    log_dir: str | None = None


def agent_rows(cluster: str, ids: list[int]) -> dict[int, dict[str, Any]] | None:
    """The agent's rows of ``ids`` on ``cluster``; None when the agent cannot be reached."""
    from stix.errors import StixError

    try:
        jobs = _client(cluster).call("queue", *map(str, ids))["jobs"]
    except (StixError, OSError):
        return None
    return {int(j["job_id"]): j for j in jobs}


def cluster_gone(cluster: str) -> bool:
    """Ask the cloud (as ``status --refresh`` does) whether the cluster is no longer UP."""
    from stix.errors import StixError
    from stix.provision.refresh import live_status
    from stix.state.clusters import UP, ClusterStore

    record = ClusterStore().get(cluster)
    if record is None:
        return True
    try:
        return live_status(record) != UP
    except StixError:
        return False  # the cloud did not answer: decide on a later look


def interpret(row: dict[str, Any] | None, cluster: str) -> Check:
    """Turn an agent row (or its absence) into a :class:`Check`, asking the cloud if needed."""
    status = row.get("status") if row else None
    if status is not None and status not in states.AGENT_TERMINAL:
        return Check("running", status, log_dir=row.get("log_dir") if row else None)
    if cluster_gone(cluster):
        return Check("preempted", status)
    if row is None:
        return Check("silent")
    return Check("done", status, exit_codes(row), row.get("log_dir"))


def exit_codes(row: dict[str, Any]) -> tuple[int, ...]:
    """The per-node exit codes of an agent row (a list, or its JSON text)."""
    raw = row.get("exit_codes") or []
    if isinstance(raw, str):
        raw = json.loads(raw or "[]") or []
    return tuple(int(c) for c in raw if c is not None)


def check(cluster: str, agent_job_id: int) -> Check:
    rows = agent_rows(cluster, [agent_job_id])
    return interpret(None if rows is None else rows.get(agent_job_id), cluster)


def read_logs(cluster: str, log_dirs: list[str]) -> dict[str, str | None]:
    """The ``run.log`` of each agent log folder, read in one command on the head node."""
    from stix.errors import StixError

    handle = _handle(cluster)
    paths = [str(Path(d) / "run.log") for d in log_dirs]
    try:
        result = handle.head_runner().run(
            [handle.python, "-S", "-c", _READ_LOGS % MAX_LOG_BYTES, *paths]
        )
        data: dict[str, str | None] = json.loads(result.stdout.strip().splitlines()[-1])
    except (StixError, OSError, ValueError, IndexError):
        return {}
    return {d: data.get(str(Path(d) / "run.log")) for d in log_dirs}


def cancel_agent_job(cluster: str, agent_job_id: int) -> None:
    from stix.errors import StixError

    try:
        _client(cluster).call("cancel", str(agent_job_id))
    except (StixError, OSError):
        pass


def submit_many(cluster: str, specs: list[dict[str, Any]]) -> list[int]:
    """Queue several jobs on a pool worker in one round trip."""
    ids: list[int] = _client(cluster).submit(specs)
    return ids


def launch_worker(cluster: str, task: Any) -> str:
    """Bring a pool worker up and run the pool's setup on it; return where it runs."""
    from stix.errors import ProvisionError, ResourcesUnavailableError
    from stix.sdk.launcher import launch as sdk_launch

    try:
        result = sdk_launch(task.copy(run="true"), cluster, detach_run=False)
    except (ResourcesUnavailableError, ProvisionError) as exc:
        raise CapacityError(exc.message) from None
    if result.status not in (None, "SUCCEEDED"):
        raise PrecheckError(f"pool setup ended {result.status}")
    return _infra(cluster)
