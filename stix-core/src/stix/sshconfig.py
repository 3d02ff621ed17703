"""``ssh CLUSTER`` support: one ssh config file per cluster plus one ``Include`` in ~/.ssh/config.

Cluster files live in ``$STIX_HOME/ssh/clusters/<name>.conf`` with a ``Host`` entry for
the head (``<name>``) and each worker (``<name>-worker1``...). ``~/.ssh/config`` gets a
single ``Include`` line at its top (added once, never duplicated; nothing else in it
changes), so ``ssh``, ``scp``, ``rsync`` and editors' remote plugins find the clusters.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stix.runner.ssh import SshRunner

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def clusters_dir() -> Path:
    """Folder of the per-cluster config files."""
    from stix.config import stix_home

    return stix_home() / "ssh" / "clusters"


def cluster_file(name: str) -> Path:
    return clusters_dir() / f"{name}.conf"


def user_config() -> Path:
    """The user's ssh config file (``~/.ssh/config``)."""
    return Path(os.path.expanduser("~")) / ".ssh" / "config"


def include_line() -> str:
    """The line STIX adds to ``~/.ssh/config``."""
    return f'Include "{clusters_dir()}/*.conf"'


def ensure_include() -> bool:
    """Put :func:`include_line` at the top of ``~/.ssh/config`` unless present; True if added."""
    path = user_config()
    line = include_line()
    text = path.read_text() if path.exists() else ""
    if any(existing.strip() == line for existing in text.splitlines()):
        return False
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".config.stix.{os.getpid()}")
    tmp.write_text(line + "\n" + text)
    if path.exists():
        os.chmod(tmp, path.stat().st_mode & 0o777)
    else:
        os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return True


def quote_value(value: str) -> str:
    """``value`` as one ssh_config argument (double-quoted when it holds spaces)."""
    return f'"{value}"' if any(c.isspace() for c in value) else value


def host_block(alias: str, runner: SshRunner) -> str:
    """One ``Host`` entry logging into ``runner``'s node the way the runner does."""
    from stix.runner.ssh import proxy_command

    target = runner.target
    lines = [
        f"Host {alias}",
        f"  HostName {target.host}",
        f"  User {target.user}",
        f"  Port {target.port}",
        f"  UserKnownHostsFile {quote_value(os.path.expanduser(target.known_hosts))}",
        "  StrictHostKeyChecking accept-new",
    ]
    if target.key:
        lines.append(f"  IdentityFile {quote_value(os.path.expanduser(target.key))}")
        lines.append("  IdentitiesOnly yes")
    proxy = proxy_command(target)
    if proxy:
        lines.append(f"  ProxyCommand {proxy}")
    return "\n".join(lines) + "\n"


def add_cluster(name: str, runners: Sequence[Any]) -> Path | None:
    """Write the cluster's config file (head, then workers) and make sure it is included.

    :returns: the file written, or None when ``name`` cannot be an ssh host alias.
    """
    if not _SAFE_NAME.match(name):
        return None
    from stix.runner.ssh import node_names

    aliases = node_names(name, len(runners))
    body = [f"# Written by stix for cluster {name}; removed by `stix down {name}`.\n"]
    body += [
        runner.ssh_host_block(alias)
        if hasattr(runner, "ssh_host_block")
        else host_block(alias, runner)
        for alias, runner in zip(aliases, runners, strict=True)
    ]
    path = cluster_file(name)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text("\n".join(body))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    ensure_include()
    return path


def remove_cluster(name: str) -> None:
    """Delete the cluster's config file (the ``Include`` line stays; it matches nothing)."""
    cluster_file(name).unlink(missing_ok=True)


def add_for_runners(name: str, runners: Sequence[object]) -> Path | None:
    """Write the cluster's entries when every node can be logged into (else do nothing).

    Called by the core after each (re)start of a cluster, whichever cloud made it. A node
    can be logged into when its runner is an ``SshRunner``, or when the runner has an
    ``ssh_host_block(alias) -> str`` method returning its own ``Host`` entry (for
    example one whose ``ProxyCommand`` tunnels through a pod's exec API).
    """
    from stix.runner.ssh import SshRunner

    ok = [r for r in runners if isinstance(r, SshRunner) or hasattr(r, "ssh_host_block")]
    if not ok or len(ok) != len(runners):
        return None
    return add_cluster(name, ok)


def forget_cluster(name: str, cluster_name_on_cloud: str | None = None) -> None:
    """After a cluster is gone: drop its ssh config entries and its known-hosts file.

    The known hosts go too, so a later cluster that gets the same addresses (clouds
    reuse them) is not refused as a changed host.
    """
    remove_cluster(name)
    if cluster_name_on_cloud:
        from stix.runner.ssh_keys import known_hosts_path

        known_hosts_path(cluster_name_on_cloud).unlink(missing_ok=True)


__all__ = [
    "add_cluster",
    "add_for_runners",
    "cluster_file",
    "ensure_include",
    "forget_cluster",
    "include_line",
    "quote_value",
    "remove_cluster",
]
