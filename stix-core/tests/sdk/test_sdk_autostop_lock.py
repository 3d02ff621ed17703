"""``autostop`` under the cluster lock: a cluster removed meanwhile, and callers holding the lock."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from stix.errors import ClusterError
from stix.sdk import clusters
from stix.sdk.locks import cluster_lock
from stix.state.clusters import UP, ClusterRecord, ClusterStore


class _Agent:
    """Answers ``set-autostop``; ``on_call`` runs first (to remove the cluster meanwhile)."""

    def __init__(self, on_call: Any = None) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.on_call = on_call

    def call(self, *args: str) -> Any:
        if self.on_call is not None:
            self.on_call()
        self.calls.append(args)
        return {}


@pytest.fixture
def up_cluster(stix_home: Path) -> str:
    handle = {
        "cluster_name": "c1",
        "cluster_name_on_cloud": "c1-x",
        "cloud": None,
        "region": None,
        "zone": None,
    }
    ClusterStore().put(ClusterRecord(name="c1", status=UP, handle=handle))
    return "c1"


def _use_agent(monkeypatch: pytest.MonkeyPatch, agent: _Agent) -> None:
    import stix.backend.runtime as runtime

    monkeypatch.setattr(runtime, "client", lambda handle: agent)


def test_cluster_removed_meanwhile_is_a_clear_cluster_error(
    up_cluster: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = _Agent(on_call=lambda: ClusterStore().remove(up_cluster))
    _use_agent(monkeypatch, agent)
    with pytest.raises(ClusterError, match="cluster 'c1' no longer exists"):
        clusters.autostop(up_cluster, 10)
    assert agent.calls == [("set-autostop", "--idle-seconds", "600.0")]


def test_autostop_records_the_setting(up_cluster: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_agent(monkeypatch, _Agent())
    record = clusters.autostop(up_cluster, 0.5)
    assert (record.autostop_minutes, record.autostop_down) == (0.5, False)


def test_caller_holding_the_lock_does_not_wait_on_itself(
    up_cluster: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_agent(monkeypatch, _Agent())
    results: list[Any] = []

    def holder() -> None:
        with cluster_lock(up_cluster):
            results.append(clusters.autostop(up_cluster, -1))

    thread = threading.Thread(target=holder, daemon=True)
    thread.start()
    thread.join(timeout=8)
    assert not thread.is_alive(), "autostop waited on a lock its caller holds"
    assert results[0].autostop_minutes == -1


def test_lock_still_excludes_another_thread(stix_home: Path) -> None:
    order: list[str] = []
    inside = threading.Event()
    release = threading.Event()

    def first() -> None:
        with cluster_lock("c2"):
            inside.set()
            release.wait(timeout=8)
            order.append("first")

    def second() -> None:
        inside.wait(timeout=8)
        with cluster_lock("c2"):
            order.append("second")

    threads = [threading.Thread(target=f, daemon=True) for f in (first, second)]
    for t in threads:
        t.start()
    inside.wait(timeout=8)
    threads[1].join(timeout=0.3)
    assert order == []
    release.set()
    for t in threads:
        t.join(timeout=8)
    assert order == ["first", "second"]
