"""Node pool files, host allocation under concurrency, and the user's ssh config Include line."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest
import yaml
from stix.errors import ConfigError, NoCapacityError


def _write_pools(stix_home: Path, data: object) -> None:
    stix_home.mkdir(parents=True, exist_ok=True)
    (stix_home / "ssh_node_pools.yaml").write_text(yaml.safe_dump(data))


def test_pools_parse_hosts_defaults_and_gpus(stix_home: Path) -> None:
    from stix.clouds.ssh.pools import load_pools

    _write_pools(
        stix_home,
        {
            "p": {
                "user": "u",
                "identity_file": "~/k",
                "hosts": ["10.0.0.1", {"ip": "10.0.0.2", "port": 2222, "accelerators": "A100:8"}],
            }
        },
    )
    (pool,) = load_pools().values()
    first, second = pool.hosts
    assert (first.user, first.port, first.host_id) == ("u", 22, "10.0.0.1")
    assert first.identity_file is not None and first.identity_file.endswith("/k")
    assert (second.host_id, second.accelerator, second.accelerator_count) == (
        "10.0.0.2:2222",
        "A100",
        8,
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"p": {"hosts": ["h"]}}, r"p.hosts\[0\].user"),
        ({"p": {"user": "u", "hosts": []}}, r"p.hosts: expected a non-empty list"),
        ({"p": {"user": "u", "hosts": [{"ip": "h", "gpus": 1}]}}, "unknown field 'gpus'"),
        ({"p": {"user": "u", "hosts": ["h", "h"]}}, "h is listed twice"),
        ({"p": {"user": "u", "hosts": [{"ip": "h", "accelerators": "A:x"}]}}, "not a whole"),
    ],
)
def test_pool_errors_name_the_field(stix_home: Path, data: object, message: str) -> None:
    from stix.clouds.ssh.pools import load_pools

    _write_pools(stix_home, data)
    with pytest.raises(ConfigError, match=message):
        load_pools()


def _grab(args: tuple[str, str, int]) -> list[str] | str:
    import os

    stix_home, name, count = args
    os.environ["STIX_HOME"] = stix_home
    from stix.clouds.ssh import allocation
    from stix.clouds.ssh.pools import get_pool

    try:
        return [h.host_id for h in allocation.allocate(get_pool("p"), name, name, count)]
    except NoCapacityError as exc:
        return exc.message


def test_concurrent_allocations_never_share_a_host(stix_home: Path) -> None:
    _write_pools(stix_home, {"p": {"user": "u", "hosts": [f"10.0.0.{i}" for i in range(6)]}})
    jobs = [(str(stix_home), f"c{i}", 2) for i in range(5)]
    with multiprocessing.get_context("spawn").Pool(3) as workers:
        results = workers.map(_grab, jobs)
    won = [r for r in results if isinstance(r, list)]
    lost = [r for r in results if isinstance(r, str)]
    assert len(won) == 3 and len(lost) == 2
    hosts = [h for r in won for h in r]
    assert len(hosts) == len(set(hosts)) == 6
    assert all("0 suitable host(s) free of 6, 2 needed" in m for m in lost)
    state = json.loads((stix_home / "ssh" / "pool_state.json").read_text())
    assert len(state["allocations"]) == 3


def test_allocation_is_idempotent_and_released(stix_home: Path) -> None:
    from stix.clouds.ssh import allocation
    from stix.clouds.ssh.pools import get_pool

    _write_pools(stix_home, {"p": {"user": "u", "hosts": ["a", "b", "c"]}})
    pool = get_pool(None)
    first = allocation.allocate(pool, "x-1", "x", 2)
    assert allocation.allocate(pool, "x-1", "x", 2) == first
    with pytest.raises(NoCapacityError, match="in use by x"):
        allocation.allocate(pool, "y-1", "y", 2)
    allocation.release("x-1")
    assert len(allocation.allocate(pool, "y-1", "y", 3)) == 3


def test_offline_hosts_are_not_allocated(stix_home: Path) -> None:
    from stix.clouds.ssh import allocation
    from stix.clouds.ssh.pools import get_pool

    _write_pools(stix_home, {"p": {"user": "u", "hosts": ["a", "b"]}})
    pool = get_pool("p")
    assert allocation.set_offline([pool.hosts[0]], offline=True) == []
    assert [h.ip for h in allocation.allocate(pool, "z-1", "z", 1)] == ["b"]
    assert allocation.set_offline(list(pool.hosts), offline=True) == ["b (z)"]
