"""The cluster's node list (rank, ip, capacity) and how to run or kill a command on a node.

A node is reached either locally (a directory that serves as the node's home, used by
the ``local`` cloud's sandboxes) or through an argv prefix such as ``ssh -p 22 user@ip``
that a remote cloud supplies; nothing else here knows which cloud it is.
"""

from __future__ import annotations

import json
import os
import pkgutil
import shlex
import signal
import subprocess
import sys
from typing import Any, Dict, List, Optional, Tuple

from . import contain, reaper

CLUSTER_FILE = "cluster.json"
REAPERS = "~/.stix_agent/reapers"  # on a remote node: one file per live rank reaper
_SOURCE: List[str] = []


def reaper_source() -> str:
    """The text of :mod:`reaper`, run with ``python3 -c`` on nodes without the agent."""
    if not _SOURCE:
        data = pkgutil.get_data(__package__ or "stix.agent", "reaper.py")
        assert data is not None
        _SOURCE.append(data.decode())
    return _SOURCE[0]


def _reaper_argv(python: str, state: str, *args: str) -> List[str]:
    return [python, "-S", "-c", reaper_source(), reaper.MARK, *args] if state else []


def load_cluster(home: str) -> Dict[str, Any]:
    """Read the cluster description written at ``init`` (nodes in rank order)."""
    with open(os.path.join(home, CLUSTER_FILE)) as fh:
        return json.load(fh)


def save_cluster(home: str, info: Dict[str, Any]) -> None:
    """Validate and atomically write the cluster description."""
    nodes = info.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        raise ValueError("cluster info needs a non-empty 'nodes' list")
    for index, node in enumerate(nodes):
        node.setdefault("rank", index)
        node.setdefault("ip", "127.0.0.1")
        node.setdefault("cpus", float(os.cpu_count() or 1))
        node.setdefault("memory", 0.0)
        node.setdefault("gpu_ids", [])
        node.setdefault("exec", {"kind": "local"})
    os.makedirs(home, exist_ok=True)
    tmp = os.path.join(home, CLUSTER_FILE + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(info, fh, indent=1)
    os.replace(tmp, os.path.join(home, CLUSTER_FILE))


def node_home(node: Dict[str, Any]) -> str:
    """The home directory of a locally reachable node."""
    return os.path.expanduser(node["exec"].get("home") or "~")


def leaf(key: str) -> str:
    """The cgroup leaf (under the node's cgroup) of the rank named ``key``."""
    return "r-" + key


def local_group(node: Dict[str, Any], key: Optional[str] = None) -> Optional[str]:
    """The cgroup of a locally reachable node (or of one rank on it), or None."""
    ident = (node["exec"].get("env") or {}).get("STIX_NODE_ID")
    if not ident:
        return None
    return contain.group(ident, leaf(key) if key else None)


def _wrapper(
    script: str, env: Dict[str, str], pidfile: Optional[str], key: Optional[str] = None
) -> str:
    """Shell text that exports ``env``, enters the workdir and runs ``script`` in bash."""
    # Join the rank's cgroup first: the job's own variables (even HOME) cannot move it.
    lines = [contain.shell_join(leaf(key))] if key else []
    lines += ["export %s=%s" % (k, shlex.quote(v)) for k, v in env.items()]
    if pidfile:  # the rank's session (its reaper's front is the leader)
        lines.append(
            "mkdir -p %s && awk '{sub(/^.*\\) /, \"\"); print $4}' /proc/$$/stat > %s"
            % (os.path.dirname(pidfile), pidfile)
        )
    lines.append("if [ -d ~/sky_workdir ]; then cd ~/sky_workdir; else cd ~; fi")
    lines.append("exec bash -c %s" % shlex.quote(script))
    return "\n".join(lines)


def popen(
    node: Dict[str, Any],
    script: str,
    env: Dict[str, str],
    key: str,
    **kwargs: Any,
) -> "subprocess.Popen[bytes]":
    """Start ``script`` with ``env`` on ``node`` in its own process group.

    :param key: a name unique to this job and rank (used for the remote pid file).
    """
    spec = node["exec"]
    if spec.get("kind") == "local":
        home = node_home(node)
        full = dict(os.environ)
        full.update(spec.get("env") or {})
        full["HOME"] = home
        full.update(env)
        workdir = os.path.join(home, "sky_workdir")
        state = os.path.join(home, ".stix_agent", "reapers")
        rank = _reaper_argv(sys.executable, state, "run", state, key, "--", "bash", "-c", script)
        return subprocess.Popen(
            contain.wrap(local_group(node, key), rank),
            cwd=workdir if os.path.isdir(workdir) else home,
            env=full,
            start_new_session=True,
            **kwargs,
        )
    argv = list(spec["argv"])
    pidfile = "~/.stix_agent/pids/%s" % key
    wrapped = ["bash", "-c", _wrapper(script, env, pidfile, key)]
    rank = _reaper_argv("python3", REAPERS, "run", REAPERS, key, "--", *wrapped)
    # Without python3 on the node: -w, since under sshd a bare setsid forks and exits 0
    # at once and the rank's exit code would be lost.
    remote = "if command -v python3 >/dev/null 2>&1; then exec %s; else exec setsid -w %s; fi" % (
        shlex.join(rank),
        shlex.join(wrapped),
    )
    return subprocess.Popen([*argv, remote], start_new_session=True, **kwargs)


def kill(node: Dict[str, Any], proc_pgid: int, key: str, sig: int = signal.SIGTERM) -> None:
    """Signal one rank: its reaper's tree, its process group and its cgroup.

    The reaper's tree and the cgroup also hold what left the group (``setsid``, double
    forks, ``env -i``). Locally, or through the node's argv.
    """
    spec = node["exec"]
    if spec.get("kind") == "local":
        reaper.kill(os.path.join(node_home(node), ".stix_agent", "reapers"), key, sig)
    try:
        os.killpg(proc_pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    if spec.get("kind") == "local":
        contain.signal_group(local_group(node, key), sig)
        return
    pidfile = "~/.stix_agent/pids/%s" % key
    reap = shlex.join(_reaper_argv("python3", REAPERS, "kill", REAPERS, key, str(int(sig))))
    cmd = "%s 2>/dev/null; %s; %s; true" % (
        reap,
        _shell_kill_session(pidfile, sig),
        contain.shell_kill(leaf(key), sig),
    )
    try:
        subprocess.run([*spec["argv"], cmd], timeout=30, capture_output=True)
    except (OSError, subprocess.SubprocessError):
        pass


def _shell_kill_session(pidfile: str, sig: int) -> str:
    """Shell text: signal the rank's process group and every process still in its session.

    The rank starts as a session leader (``setsid -w``), so ``nohup``, double forks and
    ``env -i`` stay in its session even when they leave the group.
    """
    return (
        's=$(cat %s 2>/dev/null); if [ -n "$s" ]; then kill -%d -- -"$s" 2>/dev/null; '
        'for p in $(awk -v s="$s" \'{sub(/^.*\\) /, ""); if ($4 == s) '
        '{split(FILENAME, a, "/"); print a[3]}}\' /proc/[0-9]*/stat 2>/dev/null); '
        'do kill -%d "$p" 2>/dev/null; done; fi'
    ) % (pidfile, int(sig), int(sig))


def pgid_alive(pgid: int) -> bool:
    """True while any process of the group ``pgid`` exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fit_nodes(
    nodes: List[Dict[str, Any]],
    used: Dict[int, Dict[str, Any]],
    num_nodes: int,
    cpus: float,
    gpus: float,
    memory: float,
) -> Optional[List[Tuple[int, List[int]]]]:
    """Pick ``num_nodes`` nodes (in rank order) with room for the demand, or None.

    :param used: node index -> {"cpus", "gpus", "memory", "gpu_ids"} already allocated.
    :returns: (node index, gpu ids) per chosen node.
    """
    chosen = []
    for index, node in enumerate(nodes):
        use = used.get(index) or {"cpus": 0.0, "gpus": 0.0, "memory": 0.0, "gpu_ids": []}
        if use["cpus"] + cpus > float(node["cpus"]) + 1e-9:
            continue
        if memory and node.get("memory") and use["memory"] + memory > float(node["memory"]) + 1e-9:
            continue
        total_gpus = float(node.get("gpus", len(node.get("gpu_ids") or [])))
        if use["gpus"] + gpus > total_gpus + 1e-9:
            continue
        free_ids = [g for g in node.get("gpu_ids") or [] if g not in use["gpu_ids"]]
        want = int(-(-gpus // 1)) if gpus else 0
        chosen.append((index, free_ids[:want] if free_ids else []))
        if len(chosen) == num_nodes:
            return chosen
    return None


def fits_at_all(
    nodes: List[Dict[str, Any]], num_nodes: int, cpus: float, gpus: float, memory: float
) -> bool:
    """True when the demand fits the empty cluster (else it would wait forever)."""
    return fit_nodes(nodes, {}, num_nodes, cpus, gpus, memory) is not None
