"""On-disk layout of local sandbox nodes and the process control that stops them.

``$STIX_HOME/local/<cluster_name_on_cloud>/node-<i>/`` holds ``home/`` (the node's
``~``) and ``node.json`` (status, ip, spot). Every process of a node runs in the node's
cgroup (:mod:`stix.agent.contain`, where the machine allows) and carries
``STIX_NODE_ID=<node dir>`` in its environment; stop ends both.
"""

from __future__ import annotations

import json
import os
import signal
import time
import zlib
from pathlib import Path
from typing import Any

from stix.agent import contain, procs
from stix.runner.local import NODE_MARKER


def clusters_root() -> Path:
    """Where every local cluster's sandboxes live."""
    from stix.config import stix_home

    return stix_home() / "local"


def cluster_dir(cluster_name_on_cloud: str) -> Path:
    return clusters_root() / cluster_name_on_cloud


def node_dirs(cluster_name_on_cloud: str) -> list[Path]:
    """Existing node folders of a cluster, in index order."""
    root = cluster_dir(cluster_name_on_cloud)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.name.startswith("node-") and p.name[5:].isdigit()]
    return sorted(found, key=lambda p: int(p.name[5:]))


def node_ip(cluster_name_on_cloud: str, index: int) -> str:
    """A loopback address unique to the node: ``127.<a>.<b>.<index + 1>``."""
    digest = zlib.crc32(cluster_name_on_cloud.encode())
    return f"127.{1 + digest % 254}.{(digest >> 8) % 256}.{index + 1}"


def read_node(node: Path) -> dict[str, Any] | None:
    try:
        return json.loads((node / "node.json").read_text())
    except (OSError, ValueError):
        return None


def write_node(node: Path, data: dict[str, Any]) -> None:
    tmp = node / f"node.json.{os.getpid()}"
    tmp.write_text(json.dumps(data))
    os.replace(tmp, node / "node.json")


def node_pids(node: Path) -> list[int]:
    """Pids of every live process carrying this node's marker (Linux ``/proc``)."""
    needle = f"{NODE_MARKER}={node}\0".encode()
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                env = b"\0" + fh.read() + b"\0"
        except OSError:
            continue
        if b"\0" + needle in env:
            pids.append(int(entry.name))
    return [p for p in pids if p != os.getpid()]


def kill_node(node: Path, grace: float = 1.0) -> None:
    """Stop every process of ``node``: SIGTERM, a short grace period, then SIGKILL.

    The node's cgroup (where the machine has one) holds every process it started, even
    those that cleared their environment; the marker scan catches the rest.
    """
    group = contain.group(str(node))
    if group and contain.pids(group):
        contain.signal_group(group, signal.SIGTERM)
        deadline = time.time() + grace
        while time.time() < deadline and any(procs.alive(p) for p in contain.pids(group)):
            time.sleep(0.05)
    contain.kill_group(group)
    # Without cgroups: the marked processes and all their descendants (the agent is a
    # subreaper, so a job's orphans are among them), remembered across rounds because
    # descendants re-parent to init once their subreaper dies.
    seen: dict[int, str | None] = {}
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0), (signal.SIGKILL, 2.0)):
        found = node_pids(node)
        if not found and not _live(seen):
            # A process in the middle of exec shows an empty environ for a moment:
            # only a second empty scan means the node has no process left.
            time.sleep(0.05)
            found = node_pids(node)
        for pid in list(found):
            found.extend(contain.descendants(pid))
        for pid in found:
            if pid != os.getpid():
                seen.setdefault(pid, procs.start_time(pid))
        pids = _live(seen)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.time() + wait
        while time.time() < deadline and _live(seen):
            time.sleep(0.05)


def _live(seen: dict[int, str | None]) -> list[int]:
    return [pid for pid, started in seen.items() if procs.alive(pid, started)]
