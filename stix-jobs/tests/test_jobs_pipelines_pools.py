"""Pipelines (multi-document YAML as one managed job) and pools of warm workers."""

from __future__ import annotations

from pathlib import Path

from jobs_helpers import controller_db, job_clusters, task_row, wait_for, wait_status
from stix_jobs import sdk


def test_pipeline_runs_tasks_in_order_each_on_its_own_cluster(
    jobs_home: Path, cli, tmp_path: Path
) -> None:
    order = tmp_path / "order"
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        "name: etl\n---\n"
        f"name: extract\nrun: echo extract $SKYPILOT_TASK_ID >> {order}\n---\n"
        f"name: load\nrun: echo load $SKYPILOT_TASK_ID >> {order}; echo loaded\n"
    )
    result = cli("jobs", "launch", "-y", "-d", str(pipeline))
    assert result.exit_code == 0, result.stderr
    row = wait_status(1, "SUCCEEDED", timeout=120)
    assert row["name"] == "etl" and row["num_tasks"] == 2
    lines = order.read_text().splitlines()
    assert [ln.split()[0] for ln in lines] == ["extract", "load"]
    assert lines[0].endswith("_etl_1-0") and lines[1].endswith("_etl_1-1")
    assert task_row(1, 0)["cluster"] != task_row(1, 1)["cluster"]
    [full] = sdk.queue(job_ids=[1], tasks=True)
    assert [t["status"] for t in full["tasks"]] == ["SUCCEEDED", "SUCCEEDED"]
    out = cli("jobs", "logs", "--no-follow", "1")
    assert "loaded" in out.stdout


def test_failed_pipeline_task_stops_the_pipeline(jobs_home: Path) -> None:
    from stix.task import Dag, Task

    dag = Dag(
        name="broken",
        tasks=[
            Task.from_yaml_config({"name": "a", "run": "exit 1"}),
            Task.from_yaml_config({"name": "b", "run": "true"}),
        ],
    )
    [job_id] = sdk.launch(dag)
    wait_status(job_id, "FAILED", timeout=120)
    [full] = sdk.queue(job_ids=[job_id], tasks=True)
    assert [t["status"] for t in full["tasks"]] == ["FAILED", "FAILED"]
    assert task_row(job_id, 1)["cluster"] is None  # never launched


def _workers(pool: str) -> list[dict]:
    [p] = sdk.pool_status([pool])
    return p["worker_list"]


def test_pool_runs_jobs_on_warm_workers_and_resizes(jobs_home: Path, cli, tmp_path: Path) -> None:
    setups = tmp_path / "setups"
    pool_yaml = tmp_path / "pool.yaml"
    pool_yaml.write_text(f"pool:\n  workers: 2\nsetup: echo setup >> {setups}\n")
    result = cli("jobs", "pool", "apply", "-p", "warm", str(pool_yaml))
    assert result.exit_code == 0, result.stderr
    wait_for(
        "two ready workers",
        lambda: [w["status"] for w in _workers("warm")] == ["READY", "READY"],
    )
    assert setups.read_text().count("setup") == 2
    job = tmp_path / "job.yaml"
    job.write_text("run: echo rank $SKYPILOT_JOB_RANK on $SKYPILOT_CLUSTER_INFO\n")
    result = cli("jobs", "launch", "-y", "-d", "--pool", "warm", "--num-jobs", "4", str(job))
    assert result.exit_code == 0, result.stderr
    ids = sorted(r["job_id"] for r in sdk.queue())
    assert len(ids) == 4
    assert set(sdk.wait(ids, timeout=120).values()) == {"SUCCEEDED"}
    assert setups.read_text().count("setup") == 2  # no job provisioned or set up anything
    assert {r["worker"] for r in sdk.queue()} <= {"warm-1", "warm-2"}
    assert sorted(job_clusters()) == ["warm-1", "warm-2"]
    out: list[bytes] = []
    sdk.logs(ids[-1], follow=False, write=out.append)
    assert b"rank 3 on" in b"".join(out)

    # shrink while a job runs: the busy worker keeps its job
    started = tmp_path / "started"
    [long_job] = sdk.launch(f"run: touch {started}; sleep 3; echo done-long\n", pool="warm")
    wait_for("the long job to start", started.exists)
    busy = sdk.queue(job_ids=[long_job])[0]["worker"]
    sdk.pool_apply(pool_yaml, "warm", workers=1)
    wait_for("one worker", lambda: [w["cluster"] for w in _workers("warm")] == [busy])
    assert wait_status(long_job, "SUCCEEDED")["worker"] == busy
    result = cli("jobs", "pool", "status")
    assert "warm" in result.stdout and "READY" in result.stdout

    result = cli("jobs", "pool", "down", "warm")
    assert result.exit_code == 0, result.stderr
    wait_for("the pool to go", lambda: sdk.pool_status() == [])
    assert job_clusters() == []


def test_hundreds_of_queued_jobs_list_and_cancel_in_one_call(jobs_home: Path, cli) -> None:
    """A tiny version of the benchmark: 200 jobs in one submission, listed and cancelled."""
    pool_yaml = "pool:\n  workers: 0\n"
    sdk.pool_apply(pool_yaml, "idle")
    ids = sdk.launch("run: echo hi\n", pool="idle", num_jobs=200)
    assert ids == list(range(1, 201))
    rows = sdk.queue(all=True)
    assert len(rows) == 200 and {r["status"] for r in rows} == {"PENDING"}
    assert len(sdk.queue()) == 50  # the default view is limited
    assert sorted(sdk.cancel(pool="idle")) == ids
    with controller_db() as conn:
        states = {r[0] for r in conn.execute("SELECT status FROM jobs")}
    assert states == {"CANCELLED"}
    # the CLI: an inline command with overrides, cancelled by name, then --all
    made = cli("jobs", "launch", "-y", "-d", "--pool", "idle", "-n", "named", "--cpus", "1",
               "echo", "hi")  # fmt: skip
    assert made.exit_code == 0, made.stderr
    [row] = sdk.queue(limit=1)
    assert (row["name"], row["status"], row["resources"]) == ("named", "PENDING", "1x [cpus=1]")
    assert cli("jobs", "cancel", "-y", "-n", "named").exit_code == 0
    assert sdk.queue(limit=1)[0]["status"] == "CANCELLED"
    cli("jobs", "launch", "-y", "-d", "--pool", "idle", "echo", "again")
    assert cli("jobs", "cancel", "-y", "--all").exit_code == 0
    assert {r["status"] for r in sdk.queue(all=True)} == {"CANCELLED"}
    bad = cli("jobs", "cancel", "-y")
    assert bad.exit_code == 1 and "name the jobs to cancel" in bad.stderr
    assert "Traceback" not in bad.stderr
    sdk.pool_down(["idle"])


def test_pool_job_survives_controller_kills(jobs_home: Path, tmp_path: Path) -> None:
    """kill -9 right after a pool job is handed to a worker and after it runs: it runs once."""
    from jobs_helpers import controller_pid, crash_at

    sdk.pool_apply("pool:\n  workers: 1\n", "one")
    wait_for("a ready worker", lambda: [w["status"] for w in _workers("one")] == ["READY"])
    pids = {controller_pid()}
    crash_at("STARTING,RUNNING")
    runs = tmp_path / "runs"
    [job_id] = sdk.launch(f"run: echo x >> {runs}\n", pool="one")

    def restarts() -> int:
        pids.add(controller_pid())
        return len(pids - {None}) - 1

    wait_for("two controller restarts", lambda: restarts() >= 2)
    assert wait_status(job_id, "SUCCEEDED")["worker"] == "one-1"
    assert runs.read_text().count("x") == 1
    sdk.pool_down(["one"])
    wait_for("the pool to go", lambda: sdk.pool_status() == [])


def test_pool_scales_with_its_queue(jobs_home: Path, tmp_path: Path) -> None:
    pool_yaml = (
        "pool:\n  min_workers: 0\n  max_workers: 2\n  queue_length_threshold: 1\n"
        "  upscale_delay_seconds: 0\n  downscale_delay_seconds: 1\n"
    )
    assert sdk.pool_apply(pool_yaml, "auto")["workers"] == 0
    gate = tmp_path / "gate"
    ids = sdk.launch(f"run: while [ ! -f {gate} ]; do sleep 0.2; done\n", pool="auto", num_jobs=3)
    wait_for("two workers", lambda: len(_workers("auto")) == 2)
    wait_for(
        "two jobs running",
        lambda: sum(r["status"] == "RUNNING" for r in sdk.queue(job_ids=ids)) == 2,
    )
    gate.touch()
    assert set(sdk.wait(ids, timeout=120).values()) == {"SUCCEEDED"}
    wait_for("the pool to shrink to none", lambda: _workers("auto") == [])
    assert job_clusters() == []
    sdk.pool_down(["auto"])
