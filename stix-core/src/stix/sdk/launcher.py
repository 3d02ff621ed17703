"""``launch`` and ``exec`` in the SDK: provision (with failover), set up, submit, stream."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from stix.backend import progress
from stix.backend.handle import ClusterHandle
from stix.errors import ClusterError, StixError
from stix.sdk.locks import check_name, cluster_lock
from stix.state.clusters import INIT, STOPPED, UP, ClusterRecord, ClusterStore

if TYPE_CHECKING:
    from stix.task import Task


@attrs.frozen
class LaunchResult:
    """What ``launch``/``exec`` did: the cluster, the job id and (unless detached) its end state."""

    cluster_name: str
    job_id: int | None
    status: str | None
    handle: ClusterHandle | None = attrs.field(default=None, repr=False)


def _as_task(task: Any) -> Task:
    from stix.task import Task, load_dag

    if isinstance(task, Task):
        return task
    if isinstance(task, (str, Path)):
        task = load_dag(str(task))
    tasks = getattr(task, "tasks", None)
    if tasks is not None:
        if len(tasks) != 1:
            raise StixError("launch/exec take one task; use stix jobs launch for pipelines")
        return tasks[0]
    raise StixError(f"expected a Task or a YAML path, got {type(task).__name__}")


def _validate(task: Task, request: str, cluster_name: str | None) -> Task:
    from stix.plugins import get_registry

    context = {"request": request, "cluster_name": cluster_name, "dryrun": False}
    return get_registry().validate_task(task, context)


def generate_cluster_name() -> str:
    """``sky-<4hex>-<user>`` as SkyPilot names clusters."""
    from stix.backend.jobspec import current_user

    user = "".join(c if c.isalnum() else "-" for c in current_user().lower())[:20] or "user"
    return f"sky-{secrets.token_hex(2)}-{user}"


def _resources_text(candidate: Any, num_nodes: int) -> str:
    acc = candidate.accelerators
    acc_text = ""
    if acc:
        name, count = next(iter(acc.items()))
        acc_text = f", {name}:{count}"
    inner = f"cpus={candidate.vcpus:g}, mem={candidate.memory_gib:g}{acc_text}"
    return f"{num_nodes}x {candidate.cloud}({candidate.instance_type or ''}, {inner})"


def _autostop_extras(
    provisioner: Any, cluster_name: str, cluster_name_on_cloud: str
) -> tuple[dict[str, list[str]] | None, dict[str, str] | None]:
    """The provisioner's autostop commands and the secret environment they need."""
    from stix.redact import register_secret

    commands = getattr(provisioner, "autostop_commands", None)
    secret = getattr(provisioner, "autostop_env", None)
    env = None
    if commands is not None and secret is not None:
        env = secret(cluster_name, cluster_name_on_cloud) or None
    for value in (env or {}).values():
        register_secret(value)
    return (commands(cluster_name) if commands is not None else None), env


def _in_containers(
    provisioner: Any, provisioned: Any, image: str | None, task: Task | None
) -> list[Any]:
    """The nodes' runners, inside the task's container when a VM cloud runs a docker image.

    Container clouds (RunPod, Vast, Kubernetes: ``runs_containers``) already put the task
    in its image; on VMs the core starts one container per node (:mod:`stix.runner.container`).
    """
    runners = list(provisioned.runners)
    if not image or getattr(provisioner, "runs_containers", False):
        return runners
    from stix.config import load_config
    from stix.runner.container import start_containers, task_login

    login = task_login(task) if task is not None else None
    options = load_config(task_config=task.config if task is not None else None).get(
        "docker.run_options"
    )
    with progress.step(f"Starting container {image}"):
        return start_containers(runners, image, login=login, run_options=options)


def _finish_provision(
    store: ClusterStore,
    record: ClusterRecord,
    provisioned: Any,
    launched: dict[str, Any],
    task: Task | None = None,
) -> ClusterRecord:
    from stix.backend.runtime import install_agent
    from stix.plugins import get_registry

    info = provisioned.info
    provisioner = get_registry().provisioner(info.cloud)
    runners = _in_containers(provisioner, provisioned, launched.get("docker_image"), task)
    handle = ClusterHandle(
        cluster_name=record.name,
        cluster_name_on_cloud=provisioned.record.cluster_name_on_cloud,
        cloud=info.cloud,
        region=info.region,
        zone=info.zone,
        ips=tuple(i.internal_ip for i in info.instances),
        instance_ids=tuple(i.instance_id for i in info.instances),
        runners=tuple(r.to_spec() for r in runners),
    )
    commands, secret_env = _autostop_extras(provisioner, record.name, handle.cluster_name_on_cloud)
    with progress.step("Starting the node agent"):
        handle = install_agent(
            handle,
            runners,
            launched=launched,
            autostop_commands=commands,
            autostop_env=secret_env,
        )
    from stix.sshconfig import add_for_runners

    add_for_runners(record.name, runners)  # `ssh <cluster>`: the node, or its container
    new = store.update(record.name, handle=handle.to_dict(), launched_resources=launched)
    assert new is not None
    up = store.set_status(record.name, UP)
    assert up is not None
    return up


def _provision_new(
    task: Task, name: str, store: ClusterStore, retry_until_up: bool
) -> ClusterRecord:
    from stix.backend.default import launched_resources
    from stix.backend.jobspec import current_user
    from stix.provision.attempt import name_on_cloud
    from stix.provision.failover import provision_with_failover
    from stix.runner.container import task_login

    task_login(task)  # half a registry login: say so before any node is asked for
    user = current_user()
    cno = name_on_cloud(name, user)
    record = ClusterRecord(
        name=name,
        status=INIT,
        num_nodes=task.num_nodes,
        launched_at=time.time(),
        status_updated_at=time.time(),
        user=user,
        handle={"cluster_name_on_cloud": cno},
    )
    store.put(record)

    def on_attempt(candidate: Any) -> None:
        store.update(
            name,
            cloud=candidate.cloud,
            region=candidate.region,
            zone=candidate.zone,
            instance_type=candidate.instance_type,
            use_spot=candidate.use_spot,
            hourly_price=candidate.hourly_cost,
            resources=_resources_text(candidate, task.num_nodes),
        )

    try:
        with progress.step(f"Provisioning cluster {name}"):
            provisioned = provision_with_failover(
                task,
                cluster_name=name,
                cluster_name_on_cloud=cno,
                retry_until_up=retry_until_up,
                on_attempt=on_attempt,
            )
        current = store.get(name)
        assert current is not None
        history_id = store.start_history(current, cno)
        current = store.update(name, history_id=history_id)
        assert current is not None
        return _finish_provision(
            store, current, provisioned, launched_resources(provisioned.candidate), task
        )
    except BaseException:
        current = store.get(name)
        if current is not None and current.status == INIT:
            try:
                down_quietly(current)
            finally:
                store.remove(name)
        raise


def down_quietly(record: ClusterRecord) -> None:
    """Best-effort removal of a cluster's nodes (after a failed first launch)."""
    from stix.plugins import get_registry

    cno = (record.handle or {}).get("cluster_name_on_cloud")
    if not (cno and record.cloud):
        return
    try:
        get_registry().provisioner(record.cloud).terminate_instances(cno, record.region)
    except Exception:
        pass
    from stix.sshconfig import forget_cluster

    forget_cluster(record.name, cno)


def restart_cluster(record: ClusterRecord, store: ClusterStore) -> ClusterRecord:
    """Start a STOPPED/INIT cluster in its previous place (never fails over), then its agent."""
    from stix.optimizer import Candidate
    from stix.plugins import get_registry
    from stix.provision.attempt import provision
    from stix.task import Resources

    launched = record.launched_resources
    if not launched or not record.cloud:
        raise ClusterError(
            f"cluster {record.name!r} was never fully launched", hint=f"stix down {record.name}"
        )
    acc = (
        {launched["accelerator"]: launched["accelerator_count"]}
        if launched.get("accelerator")
        else None
    )
    resources = Resources(
        cloud=record.cloud,
        region=record.region,
        zone=record.zone,
        instance_type=launched.get("instance_type"),
        accelerators=acc,
        use_spot=bool(launched.get("use_spot")),
    )
    candidate = Candidate(
        cloud=record.cloud,
        instance_type=launched.get("instance_type"),
        region=record.region,
        zone=record.zone,
        accelerators=acc,
        vcpus=float(launched.get("vcpus") or 1),
        memory_gib=float(launched.get("memory_gib") or 0),
        use_spot=bool(launched.get("use_spot")),
        hourly_cost=float(launched.get("hourly_cost") or 0),
        num_nodes=record.num_nodes,
        launchable=True,
        hint=None,
        resources=resources,
    )
    cno = (record.handle or {})["cluster_name_on_cloud"]
    store.set_status(record.name, INIT)
    with progress.step(f"Starting cluster {record.name}"):
        provisioned = provision(
            get_registry().provisioner(record.cloud),
            candidate,
            cluster_name=record.name,
            cluster_name_on_cloud=cno,
            resources=resources,
            terminate_on_error=False,
        )
    return _finish_provision(store, record, provisioned, launched)


def launch(
    task: Any,
    cluster_name: str | None = None,
    *,
    detach_run: bool = False,
    idle_minutes_to_autostop: float | None = None,
    down: bool = False,
    retry_until_up: bool = False,
    no_setup: bool = False,
    fast: bool = False,
) -> LaunchResult:
    """Launch ``task`` (a ``Task`` or YAML path) on a new or existing cluster and run it.

    :param cluster_name: reuse this cluster if it exists (generated name otherwise).
    :param detach_run: return after submitting instead of streaming the job's log.
    :param idle_minutes_to_autostop: stop after this many idle minutes (fractions allowed).
    :param down: tear the cluster down when idle instead of stopping it; with no idle
        time, as soon as the job ends (the agent also autodowns after one idle minute,
        in case this process dies first).
    :param retry_until_up: keep retrying every candidate with backoff until one comes up.
    :param no_setup: skip ``setup``; ``fast``: skip it when nothing changed since last launch.
    """
    from stix.backend.default import setup_fingerprint, submit, sync_file_mounts, sync_workdir
    from stix.sdk.clusters import check_minutes

    check_minutes(idle_minutes_to_autostop, "idle_minutes_to_autostop")
    task = _validate(_as_task(task), "launch", cluster_name)
    name = check_name(cluster_name or generate_cluster_name())
    from stix.backend.default import check_sources
    from stix.storage.confine import check_destinations
    from stix.storage.mounts import check as check_buckets

    check_sources(task)  # a missing workdir or mount source fails before any node is made
    check_destinations(task)  # so does a destination that leaves the node
    check_buckets(task)  # and a missing store plugin
    store = ClusterStore()
    with cluster_lock(name):
        record = store.get(name)
        if record is None:
            record = _provision_new(task, name, store, retry_until_up)
        elif record.status != UP:
            if record.status not in (STOPPED, INIT):
                raise ClusterError(
                    f"cluster {name!r} is {record.status}; try again when it settles"
                )
            record = restart_cluster(record, store)
        handle = ClusterHandle.from_dict(record.handle or {})
        fingerprint = setup_fingerprint(task)
        sync_workdir(handle, task)
        sync_file_mounts(handle, task)
        skip_setup = no_setup or (fast and record.setup_hash == fingerprint)
        # The fingerprint is recorded only once setup is known to have succeeded (below):
        # until then a later --fast must not take the node for set up.
        changes: dict[str, Any] = {"last_command": f"launch {task.name or ''}".strip()}
        if not skip_setup:
            changes["setup_hash"] = None
        store.update(name, **changes)

    after = None
    # `--down` alone means "remove the cluster once the job is done". An agent-side
    # autodown at 0 idle minutes would race this client reading the job's log, so the
    # attached client tears the cluster down itself, and the agent keeps a one-minute
    # autodown as the safety net should this process die first.
    teardown_here = down and not detach_run and not idle_minutes_to_autostop
    if idle_minutes_to_autostop is not None or down:
        minutes = idle_minutes_to_autostop or 0.0
        if down and minutes <= 0:
            minutes = 1.0

        if down and not teardown_here and not _can_autodown(record):
            raise ClusterError(
                f"cluster {name!r}: {record.cloud} cannot tear a cluster down from its head, "
                "so --down needs this client to wait for the job",
                hint=f"launch without -d/-i, or run: stix down {name}",
            )

        def after(job_id: int) -> None:
            from stix.sdk.clusters import autostop

            if teardown_here and not _can_autodown(record):
                return  # no agent-side safety net on this cloud; this client tears down
            autostop(name, minutes, down=down)

    if task.run is None and not task.setup:
        if after is not None:
            after(0)
        return LaunchResult(name, None, None, handle)
    job_id, status = submit(
        handle, task, with_setup=not skip_setup, detach=detach_run, after_submit=after
    )
    if not skip_setup and status in SETUP_DONE:
        store.update(name, setup_hash=fingerprint)
    if teardown_here:
        from stix.sdk.clusters import down as teardown

        teardown(name)
    return LaunchResult(name, job_id, status, handle)


# Final job states that prove setup ran to the end (a detached launch knows no final state).
SETUP_DONE = frozenset({"SUCCEEDED", "FAILED"})


def _can_autodown(record: ClusterRecord) -> bool:
    """Whether the cluster's cloud can tear a cluster down from its head node."""
    from stix.plugins import get_registry

    return not record.cloud or "autodown" in get_registry().cloud(record.cloud).features


def exec(task: Any, cluster_name: str, *, detach_run: bool = False) -> LaunchResult:
    """Run ``task`` on an UP cluster: sync the workdir and submit (no provisioning or setup)."""
    from stix.backend.default import check_sources, submit, sync_workdir
    from stix.sdk.clusters import require_up

    task = _validate(_as_task(task), "exec", cluster_name)
    check_sources(task, file_mounts=False)  # exec syncs only the workdir
    record = require_up(cluster_name)
    handle = ClusterHandle.from_dict(record.handle or {})
    sync_workdir(handle, task)
    job_id, status = submit(handle, task, with_setup=False, detach=detach_run)
    return LaunchResult(cluster_name, job_id, status, handle)


def submit(tasks: list[Any], cluster_name: str) -> list[int]:
    """Queue many tasks on an UP cluster in one round trip (no sync, no setup); return job ids."""
    from stix.backend.jobspec import job_spec
    from stix.backend.runtime import client
    from stix.sdk.clusters import require_up

    record = require_up(cluster_name)
    handle = ClusterHandle.from_dict(record.handle or {})
    specs = [job_spec(_as_task(t), with_setup=False) for t in tasks]
    return client(handle).submit(specs)
