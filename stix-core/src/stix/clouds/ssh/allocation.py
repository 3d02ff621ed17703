"""Which pool hosts belong to which cluster, and what each host offers (a locked JSON file).

State lives in ``$STIX_HOME/ssh/pool_state.json``; every change happens under an
exclusive ``flock`` on a sibling lock file, so concurrent ``stix`` processes never hand
one host to two clusters.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stix.clouds.ssh.pools import Host, Pool
from stix.errors import NoCapacityError


def state_path() -> Path:
    from stix.config import stix_home

    return stix_home() / "ssh" / "pool_state.json"


def _empty() -> dict[str, Any]:
    return {"allocations": {}, "capacity": {}, "offline": {}}


@contextlib.contextmanager
def locked_state(write: bool = True) -> Iterator[dict[str, Any]]:
    """The state document under an exclusive lock; saved on exit when ``write``."""
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            state = json.loads(path.read_text()) if path.exists() else _empty()
        except ValueError:
            state = _empty()
        for key, value in _empty().items():
            state.setdefault(key, value)
        yield state
        if write:
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
            os.replace(tmp, path)


def key(host: Host) -> str:
    """The state key of a host: ``pool/host_id``."""
    return f"{host.pool}/{host.host_id}"


def owners(state: dict[str, Any]) -> dict[str, str]:
    """host key -> user cluster name holding it."""
    out = {}
    for alloc in state["allocations"].values():
        for host_key in alloc["hosts"]:
            out[host_key] = alloc["cluster"]
    return out


def free_hosts(pool: Pool, state: dict[str, Any]) -> list[Host]:
    """Hosts of ``pool`` that are online and not held by a cluster, in file order."""
    taken = owners(state)
    return [h for h in pool.hosts if key(h) not in taken and key(h) not in state["offline"]]


def allocate(
    pool: Pool, cluster_name_on_cloud: str, cluster: str, count: int, fits: Any = None
) -> list[Host]:
    """Give ``count`` free hosts of ``pool`` to the cluster (or its existing ones: idempotent).

    :param fits: optional ``fits(host, capacities) -> bool`` to skip hosts too small for
        the request (``capacities``: host key -> recorded probe result).
    :raises NoCapacityError: when not enough hosts are free.
    """
    with locked_state() as state:
        existing = state["allocations"].get(cluster_name_on_cloud)
        by_key = {key(h): h for h in pool.hosts}
        if existing is not None and existing["pool"] == pool.name:
            hosts = [by_key[k] for k in existing["hosts"] if k in by_key]
            if len(hosts) == count:
                return hosts
        caps = state["capacity"]
        free = [h for h in free_hosts(pool, state) if fits is None or fits(h, caps)]
        if existing is not None:
            free = [by_key[k] for k in existing["hosts"] if k in by_key] + free
        if len(free) < count:
            busy = sorted(set(owners(state).values()))
            why = f"; in use by {', '.join(busy)}" if busy else ""
            raise NoCapacityError(
                f"ssh/{pool.name}: {len(free)} suitable host(s) free of {len(pool.hosts)}, "
                f"{count} needed{why}"
            )
        chosen = free[:count]
        state["allocations"][cluster_name_on_cloud] = {
            "cluster": cluster,
            "pool": pool.name,
            "hosts": [key(h) for h in chosen],
            "allocated_at": time.time(),
        }
        return chosen


def allocation(cluster_name_on_cloud: str) -> dict[str, Any] | None:
    """The allocation record of a cluster, or None."""
    with locked_state(write=False) as state:
        return state["allocations"].get(cluster_name_on_cloud)


def release(cluster_name_on_cloud: str) -> None:
    """Return the cluster's hosts to their pool."""
    with locked_state() as state:
        state["allocations"].pop(cluster_name_on_cloud, None)


def record_capacity(host: Host, capacity: dict[str, Any]) -> None:
    with locked_state() as state:
        state["capacity"][key(host)] = {**capacity, "probed_at": time.time()}


def capacities() -> dict[str, dict[str, Any]]:
    with locked_state(write=False) as state:
        return dict(state["capacity"])


def set_offline(hosts: list[Host], offline: bool) -> list[str]:
    """Mark hosts offline (not allocatable) or back online; return hosts held by clusters."""
    with locked_state() as state:
        taken = owners(state)
        busy = [f"{h.host_id} ({taken[key(h)]})" for h in hosts if key(h) in taken]
        if offline and busy:
            return busy
        for host in hosts:
            if offline:
                state["offline"][key(host)] = time.time()
            else:
                state["offline"].pop(key(host), None)
        return []
