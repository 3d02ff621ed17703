"""The SDK end to end on the local cloud: the same calls the CLI makes, from Python."""

from __future__ import annotations

import time

import pytest
import stix
from stix.errors import ClusterError, JobError
from stix.task import load_task


@pytest.fixture
def sdk_home(stix_home, plugin_registry):
    yield stix_home
    for record in stix.status():
        stix.down(record.name, purge=True)


def _wait(cluster: str, job_id: int, timeout: float = 20) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = stix.sdk.job_status(cluster, [job_id])[job_id]
        if state not in ("INIT", "PENDING", "SETTING_UP", "RUNNING"):
            return str(state)
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def test_launch_exec_queue_logs_cancel_stop_start_down(sdk_home, tmp_path, monkeypatch):
    monkeypatch.setenv("STIX_QUIET", "1")
    task = tmp_path / "t.yaml"
    task.write_text(
        "setup: echo prepared > ~/ready\nrun: cat ~/ready; echo $GREETING\nenvs:\n  GREETING: hi\n"
    )
    result = stix.launch(str(task), cluster_name="sdk1", detach_run=True)
    assert result.cluster_name == "sdk1" and result.job_id == 1 and result.status is None
    assert _wait("sdk1", 1) == "SUCCEEDED"
    chunks: list[bytes] = []
    assert stix.tail_logs("sdk1", 1, write=chunks.append) == (1, "SUCCEEDED")
    assert b"".join(chunks).split() == [b"prepared", b"hi"]

    ran = stix.exec(load_task({"run": "exit 7"}), "sdk1")
    assert ran.job_id == 2 and ran.status == "FAILED"
    [job] = [j for j in stix.queue("sdk1") if j["job_id"] == 2]
    assert job["exit_codes"] == [7]

    sleeper = stix.exec(load_task({"run": "sleep 300"}), "sdk1", detach_run=True)
    assert stix.cancel("sdk1", [sleeper.job_id]) == [sleeper.job_id]
    assert _wait("sdk1", sleeper.job_id) == "CANCELLED"
    assert stix.queue("sdk1", skip_finished=True) == []
    with pytest.raises(JobError, match="job 99"):
        stix.cancel("sdk1", [99])

    stix.stop("sdk1")
    assert [r.status for r in stix.status(["sdk1"])] == ["STOPPED"]
    with pytest.raises(ClusterError, match="STOPPED"):
        stix.exec(load_task({"run": "true"}), "sdk1")
    assert stix.start("sdk1").status == "UP"
    assert stix.exec(load_task({"run": "cat ~/ready"}), "sdk1").status == "SUCCEEDED"

    stix.down("sdk1")
    assert stix.status() == []
    [row] = stix.cost_report()
    assert row["name"] == "sdk1" and row["status"] == "TERMINATED"
    with pytest.raises(ClusterError, match="'sdk1' does not exist"):
        stix.queue("sdk1")


def test_launch_with_autodown(sdk_home, monkeypatch):
    monkeypatch.setenv("STIX_QUIET", "1")
    result = stix.launch(
        load_task({"run": "echo done"}),
        cluster_name="sdk2",
        idle_minutes_to_autostop=0.02,
        down=True,
    )
    assert result.status == "SUCCEEDED"
    [record] = stix.status(["sdk2"])
    assert record.autostop_down and record.autostop_minutes == pytest.approx(0.02)
    deadline = time.time() + 20
    while stix.status(["sdk2"]) and time.time() < deadline:
        time.sleep(0.2)
    assert stix.status(["sdk2"]) == []
