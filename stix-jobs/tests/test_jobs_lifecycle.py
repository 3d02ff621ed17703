"""A managed job from launch to end on the local cloud: states, variables, logs, queue, cancel."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from jobs_helpers import job_clusters, task_row, wait_for, wait_status
from stix_jobs import sdk


def test_entry_module_is_cheap() -> None:
    code = (
        "import json, sys, stix_jobs.hooks; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('stix_jobs'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == ["stix_jobs", "stix_jobs.hooks"]


def test_jobs_group_is_registered(cli) -> None:
    result = cli("jobs", "--help")
    assert result.exit_code == 0, result.stderr
    for command in ("launch", "queue", "cancel", "logs", "pool"):
        assert command in result.stdout


def test_launch_runs_to_success_and_keeps_logs(jobs_home: Path, cli, tmp_path: Path) -> None:
    task = tmp_path / "hello.yaml"
    task.write_text(
        "name: hello\n"
        "envs: {GREETING: hi}\n"
        f"event_callback: echo $JOB_STATUS $TASK_NAME $JOB_ID >> {tmp_path / 'events'}\n"
        "run: |\n"
        '  echo "$GREETING id=$SKYPILOT_MANAGED_JOB_ID task=$SKYPILOT_TASK_ID"\n'
        '  echo "rank=$SKYPILOT_JOB_RANK of $SKYPILOT_NUM_JOBS"\n'
    )
    result = cli("jobs", "launch", "-y", str(task))
    assert result.exit_code == 0, result.stderr
    assert "hi id=1 task=sky-managed-" in result.stdout
    assert "_hello_1-0" in result.stdout
    assert "rank=0 of 1" in result.stdout
    row = wait_status(1, "SUCCEEDED")
    assert row["recoveries"] == 0 and row["infra"] == "local/local"
    # the job's cluster is gone, its log is still there
    wait_for("the job cluster to go", lambda: job_clusters() == [])
    out = cli("jobs", "logs", "--no-follow", "1")
    assert out.exit_code == 0 and "hi id=1" in out.stdout
    listing = cli("jobs", "queue", "--json")
    assert [r["status"] for r in json.loads(listing.stdout)] == ["SUCCEEDED"]
    table = cli("jobs", "queue")
    assert "hello" in table.stdout and "SUCCEEDED" in table.stdout
    events = tmp_path / "events"
    wait_for("the last event callback", lambda: "SUCCEEDED" in _read(events))
    assert _read(events).splitlines() == [
        "STARTING hello 1",
        "RUNNING hello 1",
        "SUCCEEDED hello 1",
    ]


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def test_user_failure_is_not_retried_unless_asked(jobs_home: Path, tmp_path: Path) -> None:
    count = tmp_path / "runs"
    plain = {"name": "fails", "run": f"echo x >> {count}; exit 3"}
    retried = {
        "name": "retried",
        "resources": {"job_recovery": {"max_restarts_on_errors": 1}},
        "run": f"echo y >> {count}.r; exit 3",
    }
    on_code = {
        "name": "oncode",
        "resources": {"job_recovery": {"recover_on_exit_codes": [7]}},
        "run": f"if [ -f {count}.c ]; then exit 0; fi; touch {count}.c; exit 7",
    }
    from stix.task import Task

    [a] = sdk.launch(Task.from_yaml_config(plain))
    [b] = sdk.launch(Task.from_yaml_config(retried))
    [c] = sdk.launch(Task.from_yaml_config(on_code))
    final = sdk.wait([a, b, c], timeout=120)
    assert final == {a: "FAILED", b: "FAILED", c: "SUCCEEDED"}, [
        (r["job_id"], r["reason"]) for r in sdk.queue()
    ]
    assert count.read_text().count("x") == 1
    assert Path(f"{count}.r").read_text().count("y") == 2  # one restart
    assert task_row(b)["restarts"] == 1
    assert task_row(c)["restarts"] == 0  # an exit code in recover_on_exit_codes is free


def test_setup_failure_and_infeasible_request(jobs_home: Path) -> None:
    from stix.task import Task

    [a] = sdk.launch(Task.from_yaml_config({"setup": "exit 1", "run": "true"}))
    [b] = sdk.launch(Task.from_yaml_config({"resources": {"cpus": "4096+"}, "run": "true"}))
    final = sdk.wait([a, b], timeout=120)
    assert final == {a: "FAILED_SETUP", b: "FAILED_PRECHECKS"}
    assert "cpus" in sdk.queue(job_ids=[b])[0]["reason"]


def test_cancel_pending_and_running(jobs_home: Path, tmp_path: Path) -> None:
    from stix.task import Task

    started = tmp_path / "started"
    [a] = sdk.launch(Task.from_yaml_config({"run": f"touch {started}; sleep 300"}))
    wait_status(a, "RUNNING")
    wait_for("the job to start", started.exists)
    # the controller is neither stopped nor torn down under a job in progress
    from stix.errors import ClusterError
    from stix.sdk import down, stop
    from stix_jobs.client import controller_name

    for verb in (down, stop):
        with pytest.raises(ClusterError, match=rf"in progress \({a}\).*stix jobs cancel --all"):
            verb(controller_name())
    assert sdk.queue(job_ids=[a])[0]["status"] == "RUNNING"
    assert sdk.cancel([a]) == [a]
    wait_status(a, "CANCELLED")
    wait_for("no cluster left", lambda: job_clusters() == [])
    assert sdk.cancel([a]) == []  # a finished job is not cancelled again
    out: list[bytes] = []
    assert sdk.logs(a, follow=False, write=out.append) == "CANCELLED"


def test_controller_resources_come_from_config(jobs_home: Path) -> None:
    import yaml
    from stix.errors import StixError
    from stix_jobs.client import controller_name, controller_task

    config = yaml.safe_load((jobs_home / "config.yaml").read_text())
    config["jobs"]["controller"]["resources"] = {"cpus": "1+", "memory": "1+"}
    (jobs_home / "config.yaml").write_text(yaml.safe_dump(config))
    [res] = controller_task().resources
    assert (res.cpus, res.memory) == ("1+", "1+")
    assert controller_name().startswith("stix-jobs-controller-")
    config["jobs"]["controller"]["resources"] = "big"
    (jobs_home / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(StixError, match=r"jobs\.controller\.resources"):
        controller_task()


def test_idle_controller_leaves_and_is_started_again(jobs_home: Path) -> None:
    import yaml
    from jobs_helpers import controller_pid
    from stix.sdk import queue as cluster_queue
    from stix.task import Task
    from stix_jobs.client import controller_name

    config = yaml.safe_load((jobs_home / "config.yaml").read_text())
    config["jobs"]["controller"]["idle_minutes"] = 0.05
    (jobs_home / "config.yaml").write_text(yaml.safe_dump(config))
    [a] = sdk.launch(Task.from_yaml_config({"run": "true"}))
    assert sdk.wait([a]) == {a: "SUCCEEDED"}
    # idle for 3 s: the controller leaves, its supervising job ends, autostop may follow
    wait_for("the controller to leave", lambda: controller_pid() is None)
    wait_for(
        "the controller job to end",
        lambda: cluster_queue(controller_name())[0]["status"] == "SUCCEEDED",
    )
    [b] = sdk.launch(Task.from_yaml_config({"run": "true"}))
    assert sdk.wait([b]) == {b: "SUCCEEDED"}
