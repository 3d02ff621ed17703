"""Tasks in a docker image on a VM: one long-lived container per node, and its runner.

``image_id: docker:<image>`` on a cloud whose nodes are VMs (Lambda, AWS, GCP, Azure)
starts, on every node, a container named ``sky_container`` from the image, on the
host's network, and the node agent, setup and run all live inside it. The VM keeps its
own runner; :class:`ContainerRunner` wraps it so that each command becomes
``docker exec sky_container bash -c ...`` on the VM. Files go to a staging folder on the
VM (``~/.stix_container/stage``, mounted read-only at ``/.stix_stage``) with the VM
runner's own copy (rsync over SSH, deltas included) and are then copied into place
inside the container, so the image needs no SSH server and no rsync.

A stopped cluster's container is started again with what setup installed in it; the
image is pulled only when the node does not have it. A private registry is logged into
with the task's ``SKYPILOT_DOCKER_USERNAME``, ``SKYPILOT_DOCKER_PASSWORD`` and
``SKYPILOT_DOCKER_SERVER`` (envs or secrets); the password goes on standard input only.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from stix.errors import ClusterError
from stix.runner.base import Runner, RunResult, run_parallel
from stix.sshd_inline import EXEC as SSHD_EXEC
from stix.sshd_inline import config_heredoc

CONTAINER = "sky_container"
STAGE = "~/.stix_container/stage"  # on the VM
MOUNTED_STAGE = "/.stix_stage"  # the same folder inside the container
LOGIN_ENVS = ("SKYPILOT_DOCKER_USERNAME", "SKYPILOT_DOCKER_PASSWORD", "SKYPILOT_DOCKER_SERVER")

# Runs on the head's container: the worker's VM argv with the last word (the command
# for the node) run in the worker's container instead.
_HOP = (
    "import os, shlex, sys\n"
    "engine, name, argv = sys.argv[1], sys.argv[2], sys.argv[3:]\n"
    "inner = engine + ' exec ' + name + ' bash -c ' + shlex.quote(argv[-1])\n"
    "os.execvp(argv[0], argv[:-1] + [inner])\n"
)

# Bash on the VM: find a working docker, start (or restart) the container, print the
# engine command. Arguments: image, container name, then the extra `docker run` words.
_START = r"""
image="$1"; name="$2"; shift 2
if ! command -v docker >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
    && sudo -n true 2>/dev/null; then  # plain Ubuntu images: the distribution's docker
  sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1
  sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null 2>&1
fi
if docker info >/dev/null 2>&1; then engine=docker
elif sudo -n docker info >/dev/null 2>&1; then engine="sudo docker"
else
  echo "docker is not installed or not usable by $(id -un) on this node" >&2; exit 3
fi
mkdir -p "$HOME/.stix_container/stage"
cat > "$HOME/.stix_container/stage/stix-sshd.sh"  # for `ssh <cluster>` (standard input)
if $engine container inspect "$name" >/dev/null 2>&1; then  # a restarted node: start it again
  $engine start "$name" >/dev/null 2>"$HOME/.stix_container/run.err" || {
    echo "cannot start container $name again: $(tail -c 300 "$HOME/.stix_container/run.err")" >&2
    exit 5; }
  echo "$engine"; exit 0
fi
if ! $engine image inspect "$image" >/dev/null 2>&1; then
  $engine pull "$image" >/dev/null 2>"$HOME/.stix_container/pull.err" || {
    echo "cannot pull image $image: $(tail -c 300 "$HOME/.stix_container/pull.err")" >&2; exit 4; }
fi
opts="--net=host --cap-add=SYS_ADMIN"
[ -e /dev/fuse ] && opts="$opts --device=/dev/fuse"
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && opts="$opts --gpus=all"
# shellcheck disable=SC2086
$engine run -d --name "$name" $opts --label stix.container=1 \
  -v "$HOME/.stix_container/stage:/.stix_stage:ro" "$@" \
  --entrypoint /bin/sh "$image" -c 'trap "exit 0" TERM INT; sleep infinity & wait' \
  >/dev/null 2>"$HOME/.stix_container/run.err" || {
    echo "cannot start a container from $image: $(tail -c 300 "$HOME/.stix_container/run.err")" >&2
    exit 5; }
echo "$engine"
"""

# Bash in the container: what the agent needs. python3 is required; rsync and, for
# several nodes, an ssh client are installed when the image's package manager can.
_TOOLS = r"""
echo "user=$(id -un)"
need=""
command -v python3 >/dev/null 2>&1 || need="$need python3"
[ "$1" = multi ] && ! command -v ssh >/dev/null 2>&1 && need="$need ssh"
[ -z "$need" ] && exit 0
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
if command -v apt-get >/dev/null 2>&1; then
  pkgs=$(echo "$need" | sed 's/ssh/openssh-client/')
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null 2>&1
elif command -v dnf >/dev/null 2>&1 || command -v yum >/dev/null 2>&1; then
  pm=$(command -v dnf || command -v yum)
  $sudo "$pm" install -y $(echo "$need" | sed 's/ssh/openssh-clients/') >/dev/null 2>&1
elif command -v apk >/dev/null 2>&1; then
  $sudo apk add --no-cache $(echo "$need" | sed 's/ssh/openssh-client/') >/dev/null 2>&1
fi
missing=""
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
[ "$1" = multi ] && ! command -v ssh >/dev/null 2>&1 && missing="$missing ssh"
[ -z "$missing" ] || { echo "$missing"; exit 6; }
"""


# Bash in the container, the VM's authorized keys on stdin (``ssh <cluster>``): an sshd
# for ``sshd -i`` (installed with the image's package manager when missing, output to
# stderr), a host key, and those keys authorized. Written at start to the staging
# folder (:data:`SSHD_SCRIPT` inside); nothing here may write to stdout, the SSH stream.
_SSHD_SETUP = r"""
exec 3>&1 1>&2
sshd=$(command -v sshd || { [ -x /usr/sbin/sshd ] && echo /usr/sbin/sshd; })
if [ -z "$sshd" ]; then
  echo "stix: installing an SSH server in the container (first ssh only)"
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
  if command -v apt-get >/dev/null 2>&1; then
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null
  elif command -v dnf >/dev/null 2>&1 || command -v yum >/dev/null 2>&1; then
    $sudo "$(command -v dnf || command -v yum)" install -y openssh-server >/dev/null
  elif command -v apk >/dev/null 2>&1; then
    $sudo apk add --no-cache openssh-server >/dev/null
  fi
  [ -x /usr/sbin/sshd ] || command -v sshd >/dev/null 2>&1 || {
    echo "stix: the container has no sshd and it could not be installed; use docker exec"
    exit 1; }
fi
d="$HOME/.stix_agent/sshd"
mkdir -p "$d" "$HOME/.ssh" && chmod 700 "$HOME/.ssh"
[ "$(id -u)" = 0 ] && mkdir -p /run/sshd
[ -f "$d/host_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$d/host_key" >/dev/null
touch "$HOME/.ssh/authorized_keys"
while IFS= read -r key; do
  [ -n "$key" ] && ! grep -qxF -- "$key" "$HOME/.ssh/authorized_keys" \
    && echo "$key" >> "$HOME/.ssh/authorized_keys"
done
sftp=internal-sftp
""" + config_heredoc("Subsystem sftp $sftp")
SSHD_SCRIPT = f"{MOUNTED_STAGE}/stix-sshd.sh"


def wants_docker(resources: Any) -> bool:
    """True when a resources candidate asks for a ``docker:`` image in any region."""
    image = getattr(resources, "image_id", None)
    if isinstance(image, dict):
        return "docker" in image or any(str(v).startswith("docker:") for v in image.values())
    return isinstance(image, str) and image.startswith("docker:")


def login_config(envs: dict[str, Any] | None, secrets: dict[str, Any] | None) -> dict[str, str]:
    """The private-registry login from a task's envs and secrets (empty when not given)."""
    from stix.redact import register_secret

    merged = {**(envs or {}), **(secrets or {})}
    found = {k: str(merged[k]) for k in LOGIN_ENVS if merged.get(k) not in (None, "")}
    register_secret(found.get("SKYPILOT_DOCKER_PASSWORD"))  # masked even when given as an env
    if found and len(found) < len(LOGIN_ENVS):
        from stix.errors import TaskError

        missing = ", ".join(k for k in LOGIN_ENVS if k not in found)
        raise TaskError(
            f"a private docker registry needs all of {', '.join(LOGIN_ENVS)}; missing {missing}",
            path="envs",
        )
    return found


def task_login(task: Any) -> dict[str, str] | None:
    """The registry login of a task that asks for a docker image, else None.

    :raises stix.errors.TaskError: the task gives some of :data:`LOGIN_ENVS` but not all.
    """
    if not any(wants_docker(r) for r in getattr(task, "resources", None) or ()):
        return None
    return login_config(getattr(task, "envs", None), getattr(task, "secrets", None)) or None


def _stage_name(dest: str) -> str:
    return hashlib.sha256(dest.encode()).hexdigest()[:16]


class ContainerRunner(Runner):
    """Runs commands inside the node's container, through the VM's own runner."""

    def __init__(
        self,
        inner: Runner,
        *,
        engine: str = "docker",
        container: str = CONTAINER,
        user: str = "root",
    ):
        self.inner = inner
        self.engine = engine
        self.container = container
        self.user = user  # who the image runs commands as (the ssh login name)
        self.name = inner.name

    def _exec(self, command: str, *, stdin: bool = False) -> str:
        flag = " -i" if stdin else ""
        return f"{self.engine} exec{flag} {self.container} {command}"

    def run(
        self,
        argv: Sequence[str] | str,
        *,
        input: str | None = None,
        env: dict[str, str] | None = None,
        stream: Callable[[bytes], None] | None = None,
        timeout: float | None = None,
    ) -> RunResult:
        from stix.runner.ssh import remote_command

        command = self._exec(remote_command(argv, env), stdin=input is not None)
        return self.inner.run(command, input=input, stream=stream, timeout=timeout)

    def _checked(self, what: str, command: str) -> None:
        result = self.inner.run(command)
        if not result.ok:
            raise ClusterError(
                f"node {self.name}: {what} failed in container {self.container}: "
                f"{(result.stderr or result.stdout).strip()[-300:]}"
            )

    def put(self, source: Path, dest: str) -> None:
        from stix.runner.ssh import remote_command
        from stix.storage.confine import guarded

        name = f"put-{_stage_name(dest)}"
        self.inner.put(source, f"{STAGE}/{name}")
        inside = guarded(
            dest, f'mkdir -p -- "$(dirname -- "$1")" && cp -f -- {MOUNTED_STAGE}/{name} "$1"'
        )
        self._checked(
            f"copying {source.name}",
            f"{self._exec(remote_command(inside))}; rc=$?; rm -f {STAGE}/{name}; exit $rc",
        )

    def sync(self, source: Path, dest: str, excludes: Sequence[str] = ()) -> None:
        """Mirror ``source`` at ``dest`` in the container, as the VM runner does on a VM.

        A home-relative ``dest`` that resolves outside the container's home is refused,
        and so is a folder synced onto the home or ``/`` itself.
        """
        from stix.runner.ssh import remote_command
        from stix.runner.ssh_sync import sftp_path
        from stix.storage.confine import guarded

        if source.is_dir() and (sftp_path(dest).rstrip("/") or "/") in (".", "/"):
            raise ClusterError(f"node {self.name}: refusing to sync a folder onto {dest}")
        name = f"sync-{_stage_name(dest)}"
        self.inner.sync(source, f"{STAGE}/{name}", excludes)
        staged = f"{MOUNTED_STAGE}/{name}"
        if source.is_dir():
            script = (
                f'mkdir -p -- "$1" && if command -v rsync >/dev/null 2>&1; then '
                f'rsync -a --delete {staged}/ "$1"/; else '
                f'find "$1" -mindepth 1 -delete && cp -a {staged}/. "$1"/; fi'
            )
        else:
            script = f'mkdir -p -- "$(dirname -- "$1")" && cp -a -- {staged} "$1"'
        self._checked(f"syncing {source}", self._exec(remote_command(guarded(dest, script))))

    def node_spec(self) -> dict[str, Any]:
        """The head's agent runs in the head's container; a worker's through its VM."""
        spec = self.inner.node_spec()
        if spec.get("kind") == "local":
            return {"kind": "local"}
        argv = ["python3", "-c", _HOP, self.engine, self.container, *spec["argv"]]
        return {"kind": "container", "argv": argv, "name": self.name}

    def python(self) -> str:
        return "python3"

    def ssh_host_block(self, alias: str) -> str:
        """An ssh ``Host`` entry landing in the container rather than on its VM.

        The ``ProxyCommand`` logs into the VM as the VM runner does and runs ``sshd -i``
        (inetd mode: the SSH protocol on its stdin and stdout) in the container, having
        authorized the VM's own keys there; no port is opened. ``scp``, ``rsync`` (when
        the image has it) and editors' remote plugins work through it too. A second
        entry, ``<alias>-host``, logs into the VM.
        """
        from stix.runner.ssh import SshRunner, ssh_options
        from stix.sshconfig import quote_value

        if not isinstance(self.inner, SshRunner):
            raise ClusterError(f"node {self.name}: its VM is not reached over SSH")
        target = self.inner.target
        vm = self._exec(f"bash {SSHD_SCRIPT}", stdin=True)
        sshd = self._exec("sh -c " + shlex.quote(SSHD_EXEC), stdin=True)
        remote = f"cat ~/.ssh/authorized_keys 2>/dev/null | {vm} && exec {sshd}"
        proxy = shlex.join(["ssh", "-T", *ssh_options(target), f"{target.user}@{target.host}",
                            remote])  # fmt: skip
        lines = [
            f"Host {alias}",
            f"  HostName {target.host}",  # %h and %p of a jump host's ProxyCommand
            f"  Port {target.port}",
            f"  User {self.user}",
            f"  HostKeyAlias {self.container}.{target.host}.{target.port}",
            f"  UserKnownHostsFile {quote_value(os.path.expanduser(target.known_hosts))}",
            "  StrictHostKeyChecking accept-new",
        ]
        if target.key:
            lines.append(f"  IdentityFile {quote_value(os.path.expanduser(target.key))}")
            lines.append("  IdentitiesOnly yes")
        lines.append(f"  ProxyCommand {proxy}")
        from stix.sshconfig import host_block

        # The VM itself stays reachable by name: `ssh <alias>-host`.
        return "\n".join(lines) + "\n\n" + host_block(f"{alias}-host", self.inner)

    def to_spec(self) -> dict[str, Any]:
        return {
            "kind": "container",
            "inner": self.inner.to_spec(),
            "engine": self.engine,
            "container": self.container,
            "user": self.user,
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> ContainerRunner:
        from stix.runner.base import runner_from_spec

        return cls(
            runner_from_spec(spec["inner"]),
            engine=str(spec.get("engine") or "docker"),
            container=str(spec.get("container") or CONTAINER),
            user=str(spec.get("user") or "root"),
        )


def _run_options(value: Any) -> list[str]:
    """``docker.run_options`` (a string or a list of strings) as ``docker run`` words.

    Each string is split as a shell would split it, so ``-e "MSG=a b"`` stays one value;
    nothing in it is expanded or run.
    """
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
        raise ClusterError("docker.run_options: expected a string or a list of strings")
    words: list[str] = []
    for item in items:
        try:
            words += shlex.split(item)
        except ValueError as exc:
            raise ClusterError(f"docker.run_options: cannot split {item!r}: {exc}") from None
    return words


def start_containers(
    runners: Sequence[Runner],
    image: str,
    *,
    login: dict[str, str] | None = None,
    run_options: Any = None,
) -> list[ContainerRunner]:
    """Start (or restart) the task's container on every node; runners into them, head first.

    :raises stix.errors.ClusterError: naming the node and what went wrong (no docker,
        a login or pull that failed, an image without python3).
    """
    extra = _run_options(run_options)
    multi = "multi" if len(runners) > 1 else "single"

    def start(runner: Runner) -> ContainerRunner:
        if login:
            server = login["SKYPILOT_DOCKER_SERVER"]
            argv = ["bash", "-c",
                    'e=docker; docker info >/dev/null 2>&1 || e="sudo -n docker"; '
                    '$e login --username "$1" --password-stdin "$2" >/dev/null',
                    "stix-login", login["SKYPILOT_DOCKER_USERNAME"], server]  # fmt: skip
            done = runner.run(argv, input=login["SKYPILOT_DOCKER_PASSWORD"])
            if not done.ok:
                raise ClusterError(
                    f"node {runner.name}: docker login to {server} failed: "
                    f"{_clean(done.stderr, login)}",
                    hint="check SKYPILOT_DOCKER_USERNAME, SKYPILOT_DOCKER_PASSWORD and "
                    "SKYPILOT_DOCKER_SERVER",
                )
        result = runner.run(
            ["bash", "-c", _START, "stix-container", image, CONTAINER, *extra], input=_SSHD_SETUP
        )
        if not result.ok:
            raise ClusterError(
                f"node {runner.name}: {result.stderr.strip()[-400:] or 'cannot start the container'}",
                hint="image_id: docker:<image> needs docker on the node and an image it can pull",
            )
        engine = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "docker"
        wrapped = ContainerRunner(runner, engine=engine)
        tools = wrapped.run(["bash", "-c", _TOOLS, "stix-tools", multi])
        said = tools.stdout.strip().splitlines()
        if said and said[0].startswith("user="):
            wrapped.user = said.pop(0)[len("user=") :] or "root"
        if not tools.ok:
            missing = " ".join(said).strip() or tools.stderr.strip()[-200:]
            raise ClusterError(
                f"node {runner.name}: image {image} lacks{' ' if missing else ''}{missing}, "
                "which the node agent needs, and it could not be installed in the container",
                hint="use an image with python3 (and an ssh client for several nodes)",
            )
        return wrapped

    wrapped = run_parallel(start, list(runners))
    if len(wrapped) > 1:
        _share_head_access(wrapped[0])
    return wrapped


def _share_head_access(head: ContainerRunner) -> None:
    """Copy the head VM's cluster key and known hosts (``~/.stix_cluster``) into its container."""
    from stix.runner.ssh import HEAD_DIR, mux_dir

    folder = HEAD_DIR[2:]
    mux = mux_dir(str(getattr(head.inner, "cluster", "") or "cluster"))[2:]
    inside = f"cd ~ && tar -xf - && mkdir -p {mux} && chmod 700 {folder}"
    command = f"tar -C ~ --exclude='mux-*' -cf - {folder} | " + head._exec(
        "bash -c " + shlex.quote(inside), stdin=True
    )
    head._checked("copying the cluster key", command)


def _clean(text: str, login: dict[str, str]) -> str:
    """Command output with the registry password removed, shortened to one line."""
    from stix.redact import MASK, redact

    password = login["SKYPILOT_DOCKER_PASSWORD"]
    text = redact(text.replace(password, MASK) if password else text)
    return " ".join(text.split())[-300:]
