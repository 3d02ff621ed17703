"""status --refresh keeps going when one cloud cannot answer."""

from __future__ import annotations

import types
from typing import Any, ClassVar

from stix.errors import CredentialsError
from stix.hookspecs import hookimpl
from stix.interfaces import CheckResult, Cloud


class DownCloud(Cloud):
    name: ClassVar[str] = "downcloud"

    def check(self) -> CheckResult:
        return CheckResult(True)


class FakeUnreachableProvisioner:
    """A provisioner whose API rejects every call, as with expired credentials."""

    name = "downcloud"

    def query_instances(self, cluster_name_on_cloud: str, region: str | None) -> dict:
        raise CredentialsError("downcloud: token expired", hint="log in again")


def test_one_failing_cloud_does_not_hide_the_others(register_plugin, stix_home, capsys) -> None:
    from stix.sdk.clusters import status
    from stix.state.clusters import ClusterRecord, ClusterStore

    plugin = types.SimpleNamespace(
        register_clouds=hookimpl(lambda register: register(DownCloud)),
        register_provisioners=hookimpl(lambda register: register(FakeUnreachableProvisioner)),
    )
    register_plugin(plugin, "downcloud")
    store = ClusterStore()
    for name in ("a-down", "b-down"):
        store.put(
            ClusterRecord(
                name=name,
                status="UP",
                cloud="downcloud",
                region="r1",
                num_nodes=1,
                handle={"cluster_name_on_cloud": f"{name}-0000"},
            )
        )
    records: Any = status(refresh=True)
    assert [(r.name, r.status) for r in records] == [("a-down", "UP"), ("b-down", "UP")]
    err = capsys.readouterr().err
    assert "warning: cluster a-down: could not refresh: downcloud: token expired" in err
    assert "warning: cluster b-down: could not refresh" in err
