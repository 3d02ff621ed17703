"""A managed spot job on ``infra: aws`` end to end: moto's instances are real sshd nodes.

boto3 (in the controller) talks to moto through ``FakeEc2NodesProxy`` (stix-aws's test
fake), whose instances are harness nodes reached over SSH. The test takes the spot
instance back behind STIX's back; the controller must see it through the provisioner's
query, launch a new instance, and the job must end SUCCEEDED with one recovery.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("stix_aws")
pytest.importorskip("moto")
_REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(_REPO / "tests"))
sys.path.insert(0, str(_REPO / "stix-aws" / "tests"))

from aws_nodes_fake import FakeEc2NodesProxy  # noqa: E402
from harness.fixtures import cloud, cloud_nodes  # noqa: E402
from jobs_helpers import (  # noqa: E402
    FAST,
    cleanup,
    task_row,
    wait_for,
    wait_status,
)
from stix_jobs import sdk  # noqa: E402

__all__ = ["cloud", "cloud_nodes"]


@pytest.fixture
def ec2_nodes(
    aws: str, cloud: Any, stix_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeEc2NodesProxy]:
    from stix_aws.session import reset

    fake = FakeEc2NodesProxy(aws, cloud)
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", fake.url)
    config = {**FAST, "aws": {"ssh_user": cloud.user, "wait_seconds": 60}}
    (stix_home / "config.yaml").write_text(yaml.safe_dump(config))
    reset()
    try:
        yield fake
    finally:
        try:
            cleanup()
        finally:
            fake.close()
            reset()


def test_managed_spot_job_on_aws_survives_a_termination(
    ec2_nodes: FakeEc2NodesProxy, tmp_path: Path
) -> None:
    import tempfile

    from stix.task import Task

    # a folder the nodes' login user can reach and write (pytest's tmp_path is root-only)
    shared = Path(tempfile.mkdtemp(prefix="stix-jobs-e2e-", dir="/tmp"))
    os.chmod(shared, 0o777)
    marker = shared / "first"
    task = Task.from_yaml_config(
        {
            "name": "awsspot",
            "resources": {
                "infra": "aws/us-east-1",
                "instance_type": "m6i.large",
                "use_spot": True,
                "job_recovery": "FAILOVER",
            },
            "run": f"if [ -f {marker} ]; then echo second; exit 0; fi; touch {marker}; sleep 300",
        }
    )
    [job_id] = sdk.launch(task)
    try:
        wait_for("the first attempt to start", marker.exists, timeout=180)
    except AssertionError:
        from stix_jobs.client import controller_home

        home = controller_home()
        log = (home / "jobs" / "controller.log").read_text()[-3000:] if home else ""
        raise AssertionError(f"{sdk.queue(job_ids=[job_id])}\n{log}") from None
    assert wait_status(job_id, "RUNNING")["infra"].startswith("aws/us-east-1")
    [first] = list(ec2_nodes.nodes)
    ec2_nodes.preempt(first)  # the machine dies and the instance is terminated
    row = wait_status(job_id, "SUCCEEDED", timeout=240)
    assert row["recoveries"] == 1
    assert first not in ec2_nodes.nodes  # the first instance is gone
    assert task_row(job_id)["attempt"] == 2
    out: list[bytes] = []
    sdk.logs(job_id, follow=False, write=out.append)
    assert b"second" in b"".join(out)
    wait_for("no instance left", lambda: ec2_nodes.cloud.assigned() == [], timeout=120)
    import shutil

    shutil.rmtree(shared, ignore_errors=True)
