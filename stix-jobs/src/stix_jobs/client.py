"""The user's side of managed jobs: find or start the controller cluster and talk to it.

The controller is a STIX cluster (``local`` unless ``jobs.controller.resources`` says
otherwise) started on first use and reused after. Requests are short commands run on its
head node through the cluster's own command runner (``python -m stix_jobs.remote``).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stix.errors import ClusterError, JobError, StixError

DEFAULT_AUTOSTOP_MINUTES = 10.0
# Environment the controller process gets from the submitting client (cloud SDK settings).
FORWARDED_ENV = ("AWS_", "AZURE_", "GOOGLE_", "CLOUDSDK_", "KUBECONFIG", "RUNPOD_", "LAMBDA_")
_pushed: dict[str, str] = {}  # controller cluster -> digest of the config last given to it


def controller_name() -> str:
    """``stix-jobs-controller-<user>``: one controller per user of this machine."""
    from stix.backend.jobspec import current_user

    user = "".join(c if c.isalnum() else "-" for c in current_user().lower())[:20].strip("-")
    return f"stix-jobs-controller-{user or 'user'}"


def _config() -> Any:
    from stix.config import load_config

    return load_config()


def controller_task() -> Any:
    """The controller cluster's task: resources from ``jobs.controller.resources``."""
    from stix.task import Task

    resources = _config().get("jobs.controller.resources") or {}
    if not isinstance(resources, dict):
        raise StixError("jobs.controller.resources: must be a mapping of resource fields")
    return Task.from_yaml_config({"name": "stix-jobs-controller", "resources": resources})


def _record() -> Any:
    from stix.state.clusters import ClusterStore

    return ClusterStore().get(controller_name())


def _handle(record: Any) -> Any:
    from stix.backend.handle import ClusterHandle

    return ClusterHandle.from_dict(record.handle or {})


class Controller:
    """A reachable controller cluster: run remote verbs on its head node."""

    def __init__(self, record: Any) -> None:
        self.record = record
        self.handle = _handle(record)
        # one controller cluster incarnation (a name may be reused after a down)
        self.key = f"{record.name}:{record.launched_at}:{self.handle.cluster_name_on_cloud}"

    def argv(self, verb: str, *args: str) -> list[str]:
        return [self.handle.python, "-m", "stix_jobs.remote", verb, *args]

    def call(self, verb: str, *args: str, request: dict[str, Any] | None = None) -> Any:
        """Run one remote verb; return its JSON reply.

        A controller on the ``local`` cloud shares this machine's disk: its database is
        used in place, without starting a process on the node.
        """
        if self.record.cloud == "local":
            from stix_jobs import db, remote

            home = Path(self.handle.runners[0]["home"]) / ".stix"
            with db.use_home(home):
                local = remote.dispatch([verb, *args], request, conn=_local_conn(home))
            if isinstance(local, dict) and "error" in local:
                raise JobError(local["error"])
            return local
        runner = self.handle.head_runner()
        data = None if request is None else json.dumps(request)
        result = runner.run(self.argv(verb, *args), input=data)
        lines = [ln for ln in result.stdout.splitlines() if ln.startswith("{")]
        reply = json.loads(lines[-1]) if lines else None
        if isinstance(reply, dict) and "error" in reply:
            raise JobError(reply["error"])
        if reply is None or result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise ClusterError(
                f"jobs controller: {verb} failed: {detail[-1] if detail else result.returncode}",
                hint="see: stix jobs logs --controller",
            )
        return reply

    def stream(self, verb: str, *args: str, write: Callable[[bytes], None]) -> str:
        """Run a streaming verb (``logs``); return its stderr."""
        result = self.handle.head_runner().run(self.argv(verb, *args), stream=write)
        if result.returncode == 3:
            lines = [ln for ln in result.stderr.splitlines() if ln.startswith("{")]
            raise JobError(json.loads(lines[-1])["error"] if lines else "logs failed")
        return result.stderr

    def push_config(self) -> None:
        """Give the controller this machine's STIX config (allowed clouds, cloud settings)."""
        import hashlib

        import yaml

        data = dict(_config().data)
        if not data:
            return
        text = yaml.safe_dump(data)
        digest = hashlib.sha256(text.encode()).hexdigest()
        if _pushed.get(self.key) == digest:
            return  # this process already gave the controller this config
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
            fh.write(text)
        try:
            os.chmod(fh.name, 0o600)
            self.handle.head_runner().put(Path(fh.name), "~/.stix/config.yaml")
        finally:
            os.unlink(fh.name)
        _pushed[self.key] = digest

    def start_process(self) -> None:
        """Run the controller as a job on the controller cluster, restarted if it dies."""
        from stix.sdk.launcher import exec as sdk_exec
        from stix.task import Task

        python = self.handle.python
        run = (
            f"while true; do {python} -m stix_jobs.controller && break; "
            "echo 'controller exited; restarting' >&2; sleep 1; done"
        )
        # The controller launches clusters on the user's clouds: it needs their credentials
        # and endpoints from this environment, passed as secrets (never logged or shown).
        forwarded: dict[str, str | None] = {
            k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV)
        }
        task = Task(name="jobs-controller", run=run, secrets=forwarded)
        sdk_exec(task, controller_name(), detach_run=True)

    def ensure_running(self) -> None:
        if not self.call("ping")["alive"]:
            self.start_process()


_conns = threading.local()


def _local_conn(home: Path) -> Any:
    """This thread's open connection to a local controller's database (opened once)."""
    from stix_jobs import db

    cache: dict[Path, tuple[Any, int]] = getattr(_conns, "by_home", None) or {}
    _conns.by_home = cache
    try:  # a controller cluster removed and made again has a new database file
        inode = (home / "jobs" / "jobs.db").stat().st_ino
    except OSError:
        inode = -1
    if home not in cache or cache[home][1] != inode:
        with db.use_home(home):
            conn = db.connect()
        cache[home] = (conn, (home / "jobs" / "jobs.db").stat().st_ino)
    return cache[home][0]


def existing() -> Controller | None:
    """The controller if its cluster is UP (nothing is started)."""
    from stix.state.clusters import UP

    record = _record()
    if record is None or record.status != UP:
        return None
    return Controller(record)


def ensure() -> Controller:
    """The controller, launching or restarting its cluster first when needed."""
    from stix.sdk.launcher import launch
    from stix.state.clusters import UP

    record = _record()
    if record is None or record.status != UP:
        minutes = _config().get("jobs.controller.autostop", DEFAULT_AUTOSTOP_MINUTES)
        launch(
            controller_task(),
            controller_name(),
            detach_run=True,
            idle_minutes_to_autostop=float(minutes),
        )
        record = _record()
        if record is None or record.status != UP:
            raise ClusterError("the jobs controller cluster did not come up")
        controller = Controller(record)
        controller.push_config()
        return controller
    return Controller(record)


def controller_home() -> Path | None:
    """The controller node's ``$STIX_HOME`` when it is a local sandbox (tests, benchmarks)."""
    record = _record()
    if record is None or record.cloud != "local":
        return None
    return Path(_handle(record).runners[0]["home"]) / ".stix"
