"""Cluster SSH keys and known-hosts files, and giving the head node access to its workers.

Each cluster has its own known-hosts file (``$STIX_HOME/ssh/known_hosts/<cluster>``).
Clusters on machines the user owns (``ssh`` pools) get their own key pair, authorised on
every node for the cluster's life and removed on ``down``, so the user's personal key
never leaves this machine; the head node holds the cluster key to reach the workers.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from stix.errors import ClusterError

if TYPE_CHECKING:
    from stix.runner.ssh import SshRunner


def ssh_dir() -> Path:
    """``$STIX_HOME/ssh``: per-cluster ssh config, keys and known-hosts files."""
    from stix.config import stix_home

    return stix_home() / "ssh"


def known_hosts_path(cluster: str) -> Path:
    """Where the known-hosts file of ``cluster`` lives (it may not exist)."""
    return ssh_dir() / "known_hosts" / cluster


def known_hosts_file(cluster: str) -> Path:
    """The known-hosts file of ``cluster`` (created empty on first use)."""
    path = known_hosts_path(cluster)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.touch(exist_ok=True)
    return path


def cluster_key_path(cluster: str) -> Path:
    """Where the private key of ``cluster`` lives (it may not exist; ``.pub`` beside it)."""
    return ssh_dir() / "keys" / cluster


def cluster_key(cluster: str) -> Path:
    """The private key of ``cluster`` (ed25519, generated on first use; ``.pub`` beside it)."""
    path = cluster_key_path(cluster)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists() and Path(f"{path}.pub").exists():
        return path
    path.unlink(missing_ok=True)
    comment = f"stix-cluster:{cluster}"
    if shutil.which("ssh-keygen"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
            check=True,
            capture_output=True,
        )
    else:  # no OpenSSH client tools: an RSA key made by paramiko
        import paramiko

        key = paramiko.RSAKey.generate(3072)
        key.write_private_key_file(str(path))
        Path(f"{path}.pub").write_text(f"{key.get_name()} {key.get_base64()} {comment}\n")
    path.chmod(0o600)
    return path


def cluster_public_key(cluster: str) -> str:
    """The public half of :func:`cluster_key` (one ``authorized_keys`` line, no newline)."""
    return Path(f"{cluster_key(cluster)}.pub").read_text().strip()


def remove_cluster_files(cluster: str) -> None:
    """Delete the key pair and known-hosts file of ``cluster``."""
    key = cluster_key_path(cluster)
    for path in (key, Path(f"{key}.pub"), known_hosts_path(cluster)):
        path.unlink(missing_ok=True)


def marker(cluster: str) -> str:
    """The comment that tags a cluster's line in ``authorized_keys``."""
    return f"stix-cluster:{cluster}"


def authorize(runner: SshRunner, public_key: str, cluster: str) -> None:
    """Add ``public_key`` (tagged with the cluster) to the node's ``authorized_keys`` once."""
    kind, blob = public_key.split()[:2]
    line = f"{kind} {blob} {marker(cluster)}"
    script = (
        'set -e; umask 077; mkdir -p ~/.ssh; f=~/.ssh/authorized_keys; touch "$f"; '
        'grep -qxF -- "$1" "$f" || printf "%s\\n" "$1" >> "$f"'
    )
    runner.check_call(["bash", "-c", script, "stix-authorize", line])


def revoke(runner: SshRunner, cluster: str) -> None:
    """Remove the cluster's lines from the node's ``authorized_keys`` (other lines untouched)."""
    script = (
        'f=~/.ssh/authorized_keys; [ -f "$f" ] || exit 0; '
        'awk -v m="$1" \'$NF != m\' "$f" > "$f.stix.tmp" || exit 1; '
        'cat "$f.stix.tmp" > "$f"; rm -f "$f.stix.tmp"'
    )
    runner.check_call(["bash", "-c", script, "stix-revoke", marker(cluster)])


def install_head_access(runners: list[SshRunner], key: Path) -> None:
    """Give the head the cluster's private key and the workers' known host keys.

    The workers' host keys learnt by this machine are copied under the head's
    internal addresses, so the head checks them instead of trusting on first use.
    """
    from stix.runner.base import run_parallel
    from stix.runner.ssh import mux_dir

    head = runners[0]
    folder = head.head_target().key
    assert folder is not None
    remote_dir = folder.rsplit("/", 1)[0]
    private = key.read_bytes()
    known = "".join(line for lines in run_parallel(_host_key_lines, runners[1:]) for line in lines)
    # One round trip: the key on stdin, the known-hosts lines (public data) as argv $2,
    # the folder of the head's reused worker connections as $3.
    script = (
        'set -e; umask 077; d="$1"; mkdir -p -- "$d" "$3"; printf "%s" "$2" > "$d/known_hosts"; '
        'cat > "$d/key.tmp"; mv -f "$d/key.tmp" "$d/key"'
    )
    # Then open the head's reused connection to every worker in the background, so the
    # handshakes overlap the agent start and workdir sync instead of delaying setup.
    for runner in runners[1:]:
        warm = shlex.join([*runner.node_spec()["argv"], "true"])
        script += f"; (setsid {warm} </dev/null >/dev/null 2>&1 &)"
    mux = mux_dir(head.cluster or "cluster")
    result = head.run(
        ["bash", "-c", script, "stix-head-access", remote_dir, known, mux], input=private
    )
    if result.returncode != 0:
        raise ClusterError(
            f"node {head.name}: cannot install the cluster's key and known-hosts file: "
            f"{result.stderr.strip()[-200:]}"
        )


def _host_key_lines(runner: SshRunner) -> list[str]:
    """known_hosts lines for ``runner``'s node under its internal address (from the live key)."""
    conn = runner.connection()
    key = conn.transport.get_remote_server_key()
    port = runner.target.port
    host = runner.internal_ip if port == 22 else f"[{runner.internal_ip}]:{port}"
    return [f"{host} {key.get_name()} {key.get_base64()}\n"]
