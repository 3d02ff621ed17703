"""``SshRunner``: a node reached over SSH (VM clouds, ``ssh`` node pools), on fabric.

Commands run through one reused connection per node; every command is passed to
``bash -c`` as a single quoted word, so arguments, env values and file names are data.
A leading ``~/`` in an argument or a destination path means the node's home. Errors
name the node and the command. The head node reaches workers with plain ``ssh`` using
the cluster key and known-hosts file placed under :data:`HEAD_DIR` on the head.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from stix.errors import ClusterError, StixError
from stix.runner.base import Runner, RunResult
from stix.runner.ssh_conn import POOL, SshTarget

if TYPE_CHECKING:
    from stix.interfaces import ClusterInfo

# Where the head keeps the cluster's private key and known-hosts file (per cluster).
HEAD_DIR = "~/.stix_cluster"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def quote_arg(arg: str) -> str:
    """Quote one argument for a remote shell, keeping a leading ``~/`` (the home) live."""
    if arg == "~":
        return "~"
    if arg.startswith("~/"):
        return "~/" + shlex.quote(arg[2:]) if arg[2:] else "~/"
    return shlex.quote(arg)


def remote_command(argv: Sequence[str] | str, env: dict[str, str] | None = None) -> str:
    """The text sent to the node: ``bash -c '<exports; cd ~; command>'`` with everything quoted.

    :param argv: an argument list (each item is data) or a shell string (run by bash).
    :raises StixError: when an env name is not a valid variable name.
    """
    body = argv if isinstance(argv, str) else " ".join(quote_arg(a) for a in argv)
    lines = []
    for key, value in (env or {}).items():
        if not _ENV_NAME.match(key):
            raise StixError(f"envs: {key!r} is not a valid environment variable name")
        lines.append(f"export {key}={shlex.quote(str(value))}")
    lines.append("cd ~ 2>/dev/null")
    lines.append(body)
    return "bash -c " + shlex.quote("\n".join(lines))


def ssh_options(target: SshTarget, *, batch: bool = True) -> list[str]:
    """``ssh`` options (no destination) matching the runner's connection to ``target``."""
    opts = [
        "-o",
        f"UserKnownHostsFile={target.known_hosts}",
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        "ConnectTimeout=10",
        "-o",
        "ServerAliveInterval=5",
        "-o",
        "ServerAliveCountMax=3",
        "-o",
        "LogLevel=ERROR",
        "-p",
        str(target.port),
    ]
    if batch:
        opts[0:0] = ["-o", "BatchMode=yes"]
    if target.key:
        opts += ["-o", "IdentitiesOnly=yes", "-o", f"IdentityFile={target.key}"]
    proxy = proxy_command(target)
    if proxy:
        opts += ["-o", "ProxyCommand=" + proxy]
    return opts


def proxy_command(target: SshTarget) -> str | None:
    """The ``ProxyCommand`` reaching ``target`` through its jump host, or ``None`` without one."""
    jump = target.jump()
    if jump is None:
        return None
    return shlex.join(["ssh", *ssh_options(jump), "-W", "%h:%p", f"{jump.user}@{jump.host}"])


def ssh_argv(target: SshTarget) -> list[str]:
    """A complete ``ssh`` argv prefix for ``target``; append one remote command string."""
    return ["ssh", "-T", *ssh_options(target), f"{target.user}@{target.host}"]


# Runs ``ssh`` with "$@" (options, destination, command) and names the node when SSH fails
# (exit 255).
_HEAD_WRAPPER = (
    'ssh "$@"; rc=$?; '
    'if [ "$rc" = 255 ]; then echo "ERROR: node $0: SSH connection failed or lost '
    '(exit 255)" >&2; fi; exit "$rc"'
)


def mux_dir(cluster: str) -> str:
    """The head's folder of reused connections to workers (short: socket paths are limited).

    Unix socket paths hold about 100 bytes, so the folder is named by a short hash of
    the cluster instead of its name.
    """
    import hashlib

    return f"{HEAD_DIR}/mux-{hashlib.sha256(cluster.encode()).hexdigest()[:10]}"


def head_argv(target: SshTarget, cluster: str = "") -> list[str]:
    """The argv prefix the head's agent uses to run a command on a worker (command appended).

    A tiny bash wrapper runs ``ssh`` and, when the connection fails or drops, writes a
    line naming the node into the rank's log. With ``cluster``, every command to a worker
    shares one SSH connection (a control master under :func:`mux_dir`, kept for ten
    minutes after its last use), so setup, run and cancel do not each pay a handshake.
    """
    label = f"{target.label} ({target.host})"
    mux = []
    if cluster:
        mux = [
            "-o",
            "ControlMaster=auto",
            "-o",
            f"ControlPath={mux_dir(cluster)}/%h-%p",
            "-o",
            "ControlPersist=600",
        ]
    destination = f"{target.user}@{target.host}"
    return ["bash", "-c", _HEAD_WRAPPER, label, "-T", *ssh_options(target), *mux, destination]


class SshRunner(Runner):
    """Runs commands on one node over SSH.

    :param target: how the client logs in.
    :param internal_ip: the address other nodes of the cluster use for this node.
    :param is_head: the head runs the agent, which reaches itself without SSH.
    :param cluster: cluster name (names the key and known-hosts files on the head).
    :param boot_timeout: seconds to keep retrying refused connections (node booting).
    """

    def __init__(
        self,
        target: SshTarget,
        *,
        internal_ip: str | None = None,
        is_head: bool = False,
        cluster: str = "",
        boot_timeout: float = 0.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self.target = target
        self.name = target.label
        self.internal_ip = internal_ip or target.host
        self.is_head = is_head
        self.cluster = cluster
        self.boot_timeout = boot_timeout
        self.connect_timeout = connect_timeout
        self._has_rsync: bool | None = None

    # -- commands -----------------------------------------------------------------

    def connection(self) -> Any:
        """The open (reused) fabric connection to this node."""
        return POOL.get(
            self.target, connect_timeout=self.connect_timeout, boot_timeout=self.boot_timeout
        )

    def run(
        self,
        argv: Sequence[str] | str,
        *,
        input: str | bytes | None = None,
        env: dict[str, str] | None = None,
        stream: Callable[[bytes], None] | None = None,
        timeout: float | None = None,
    ) -> RunResult:
        """Run on the node (see :meth:`Runner.run`); ``input`` may also be raw bytes."""
        from stix.runner.ssh_exec import CommandTimeout, ConnectionLost, execute

        command = remote_command(argv, env)
        shown = argv if isinstance(argv, str) else shlex.join(argv)
        data = input.encode() if isinstance(input, str) else input
        for attempt in (1, 2):
            conn = self.connection()
            try:
                code, stdout, stderr = execute(conn.transport, command, data, stream, timeout)
            except CommandTimeout as exc:
                raise ClusterError(
                    f"node {self.name}: command timed out after {timeout:g}s: {_short(shown)}"
                ) from exc
            except ConnectionLost as exc:
                POOL.drop(self.target)
                if attempt == 1 and not exc.started:
                    continue  # a stale reused connection: the command never ran, so reconnect
                raise ClusterError(
                    f"node {self.name}: connection lost while running {_short(shown)}: {exc}",
                    hint="the command may have partly run; it was not started again",
                ) from exc
            return RunResult(code, stdout.decode(errors="replace"), stderr.decode(errors="replace"))
        raise AssertionError("unreachable")

    def check_call(self, argv: Sequence[str] | str, **kwargs: Any) -> RunResult:
        """Run and raise :class:`ClusterError` (naming node and command) unless it exits 0."""
        result = self.run(argv, **kwargs)
        if result.returncode != 0:
            shown = argv if isinstance(argv, str) else shlex.join(argv)
            detail = (result.stderr or result.stdout).strip().splitlines()
            why = detail[-1] if detail else f"exit code {result.returncode}"
            raise ClusterError(f"node {self.name}: {_short(shown)} failed: {why}")
        return result

    # -- files --------------------------------------------------------------------

    def put(self, source: Path, dest: str) -> None:
        from stix.runner.ssh_sync import put_file

        put_file(self, Path(source), dest)

    def sync(self, source: Path, dest: str, excludes: Sequence[str] = ()) -> None:
        from stix.runner.ssh_sync import sync_path

        sync_path(self, Path(source), dest, excludes)

    def has_rsync(self) -> bool:
        """Whether rsync exists on the node (checked once)."""
        if self._has_rsync is None:
            self._has_rsync = self.run("command -v rsync").returncode == 0
        return self._has_rsync

    # -- how others reach this node -------------------------------------------------

    def head_target(self) -> SshTarget:
        """How the head node logs into this node (cluster key and known hosts on the head)."""
        folder = f"{HEAD_DIR}/{self.cluster or 'cluster'}"
        return SshTarget(
            host=self.internal_ip,
            user=self.target.user,
            port=self.target.port,
            key=f"{folder}/key",
            known_hosts=f"{folder}/known_hosts",
            name=self.name,
        )

    def node_spec(self) -> dict[str, Any]:
        """The head reaches itself directly and a worker through ``ssh`` (see :func:`head_argv`)."""
        if self.is_head:
            return {"kind": "local"}
        argv = head_argv(self.head_target(), self.cluster or "cluster")
        return {"kind": "ssh", "argv": argv, "name": self.name}

    def to_spec(self) -> dict[str, Any]:
        spec = attrs.asdict(self.target)
        spec.update(
            kind="ssh",
            internal_ip=self.internal_ip,
            is_head=self.is_head,
            cluster=self.cluster,
        )
        return spec

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> SshRunner:
        """Rebuild a runner saved with :meth:`to_spec`."""
        fields = {f.name for f in attrs.fields(SshTarget)}
        target = SshTarget(**{k: v for k, v in spec.items() if k in fields})
        return cls(
            target,
            internal_ip=spec.get("internal_ip"),
            is_head=bool(spec.get("is_head")),
            cluster=str(spec.get("cluster") or ""),
        )


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def node_names(cluster: str, count: int) -> list[str]:
    """Names of a cluster's nodes in messages and ssh config: head, then ``<c>-worker<i>``."""
    return [cluster] + [f"{cluster}-worker{i}" for i in range(1, count)]


def ssh_runners(info: ClusterInfo, *, boot_timeout: float = 120.0) -> list[SshRunner]:
    """Runners for the nodes of a VM-like cluster, head first, and give the head cluster access.

    Reads ``info.ssh_user`` (an instance's ``tags["ssh_user"]`` overrides it for that
    node) and from ``info.provider_config``: ``cluster_name``,
    ``ssh_private_key`` (the key the provisioner installed on every node),
    ``known_hosts`` (default: the cluster's file under ``$STIX_HOME/ssh/``) and
    ``ssh_proxy_jump``.
    """
    from stix.runner.ssh_keys import install_head_access, known_hosts_file

    config = info.provider_config
    cluster = str(config.get("cluster_name") or info.head.instance_id)
    if not info.ssh_user:
        raise ClusterError(f"cluster {cluster}: the provisioner did not say which SSH user to use")
    key = config.get("ssh_private_key")
    known = str(config.get("known_hosts") or known_hosts_file(cluster))
    names = node_names(cluster, len(info.instances))
    runners = [
        SshRunner(
            SshTarget(
                host=inst.external_ip or inst.internal_ip,
                user=str(inst.tags.get("ssh_user") or info.ssh_user),
                port=inst.ssh_port,
                key=str(key) if key else None,
                known_hosts=known,
                name=name,
                proxy_jump=config.get("ssh_proxy_jump"),
            ),
            internal_ip=inst.internal_ip,
            is_head=index == 0,
            cluster=cluster,
            boot_timeout=boot_timeout,
        )
        for index, (inst, name) in enumerate(zip(info.instances, names, strict=True))
    ]
    if key and len(runners) > 1:
        install_head_access(runners, Path(str(key)).expanduser())
    return runners


__all__ = [
    "HEAD_DIR",
    "SshRunner",
    "SshTarget",
    "mux_dir",
    "node_names",
    "proxy_command",
    "quote_arg",
    "remote_command",
    "ssh_argv",
    "ssh_options",
    "ssh_runners",
]
