"""Reconciling the state DB with the local cloud: half-launched, stopped, vanished clusters."""

from __future__ import annotations

from stix.clouds.local.provisioner import LocalProvisioner, preempt
from stix.interfaces import ProvisionConfig
from stix.provision.refresh import refresh
from stix.state.clusters import INIT, STOPPED, UP, ClusterRecord, ClusterStore
from stix.task import Resources


def _half_launched(store: ClusterStore, name: str, count: int = 1) -> None:
    """A launch that died after creating nodes but before starting the agent."""
    store.put(
        ClusterRecord(
            name=name,
            status=INIT,
            cloud="local",
            region="local",
            num_nodes=count,
            launched_at=1.0,
            handle={"cluster_name_on_cloud": f"{name}-x"},
        )
    )
    LocalProvisioner().run_instances(
        ProvisionConfig(name, f"{name}-x", count, Resources(), "local")
    )


def test_nodes_without_agent_are_init(stix_home, plugin_registry):
    store = ClusterStore()
    _half_launched(store, "h")
    record = refresh(store.get("h"), store)
    assert record is not None and record.status == INIT


def test_stopped_and_vanished(stix_home, plugin_registry):
    store = ClusterStore()
    _half_launched(store, "s", 2)
    store.set_status("s", UP)
    LocalProvisioner().stop_instances("s-x", "local")
    assert refresh(store.get("s"), store).status == STOPPED
    preempt("s-x")
    assert refresh(store.get("s"), store) is None
    assert store.get("s") is None


def test_never_provisioned_record_is_dropped(stix_home, plugin_registry):
    store = ClusterStore()
    store.put(
        ClusterRecord(
            name="n", status=INIT, launched_at=1.0, handle={"cluster_name_on_cloud": "n-x"}
        )
    )
    assert refresh(store.get("n"), store) is None
    assert store.all() == []
