"""Autostop from the head: the stdlib-only script stops or deletes its own cluster through
the metadata server's token and the Compute API, leaving other clusters alone."""

from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from gcp_fakes import FakeComputeApi
from gcp_fakes_more import FakeMetadataServer
from test_gcp_provisioner import make_config


@pytest.mark.parametrize("action", ["stop", "down"])
def test_head_stops_or_deletes_its_own_cluster(gce: FakeComputeApi, action: str) -> None:
    from stix_gcp.provisioner import GcpProvisioner

    prov = GcpProvisioner()
    prov.run_instances(prov.bootstrap(make_config("auto", count=2, instance_type="e2-standard-2")))
    prov.run_instances(prov.bootstrap(make_config("other", instance_type="e2-standard-2")))
    argv = prov.autostop_commands("auto")[action]
    assert argv[:2] == ["python3", "-c"] and argv[-1] == action
    with FakeMetadataServer("auto-c0de-head", "us-central1-b") as metadata:
        env = {
            **os.environ,
            "GCE_METADATA_HOST": urlsplit(metadata.url).netloc,
            "STIX_GCP_ENDPOINT": gce.url,
        }
        done = subprocess.run(
            [sys.executable, *argv[1:]], capture_output=True, text=True, env=env, timeout=60
        )
    assert done.returncode == 0, done.stderr
    mine = {
        n: gce.view(i)["status"] for (_z, n), i in gce.instances.items() if n.startswith("auto-")
    }
    if action == "stop":
        assert mine == {"auto-c0de-head": "TERMINATED", "auto-c0de-worker-1": "TERMINATED"}
    else:
        assert mine == {}
        assert not [r for r in gce.firewalls if r.startswith("stix-auto-")]
    assert [n for (_z, n) in gce.instances if n.startswith("other-")] == ["other-c0de-head"]
    prov.terminate_instances("auto-c0de", "us-central1")
    prov.terminate_instances("other-c0de", "us-central1")
