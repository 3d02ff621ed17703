"""Environment variables each rank sees, exactly as SPEC §4 lists them."""

from __future__ import annotations

import json
import re


def _read_env(path) -> dict[str, str]:
    data = path.read_bytes().split(b"\0")
    pairs = (item.decode().split("=", 1) for item in data if b"=" in item)
    return {k: v for k, v in pairs}


def test_run_and_setup_env_multi_node(make_cluster):
    cluster = make_cluster([{"cpus": 1}, {"cpus": 1}], cluster_name="envc", zone="z1")
    dump = "env -0 > $HOME/run-env"
    [job_id] = cluster.submit(
        {
            "name": "envjob",
            "num_nodes": 2,
            "user": "alice",
            "run": dump,
            "setup": "env -0 > $HOME/setup-env",
            "envs": {"MY_VAR": "a b"},
            "secrets": {"TOKEN": "s3cret"},
            "resources": {"cpus": 1, "gpus": 0},
        }
    )
    job = cluster.wait(job_id)
    assert job["status"] == "SUCCEEDED", job
    assert job["exit_codes"] == [0, 0]
    for rank, home in enumerate(cluster.homes):
        env = _read_env(home / "run-env")
        assert env["SKYPILOT_NODE_RANK"] == str(rank)
        assert env["SKYPILOT_NODE_IPS"] == "127.0.0.1\n127.0.0.2"
        assert env["SKYPILOT_NUM_NODES"] == "2"
        assert env["SKYPILOT_NUM_GPUS_PER_NODE"] == "0"
        assert env["SKYPILOT_INTERNAL_JOB_ID"] == str(job_id)
        assert re.fullmatch(
            rf"sky-\d{{4}}-\d\d-\d\d-\d\d-\d\d-\d\d-\d{{6}}_envc_{job_id}", env["SKYPILOT_TASK_ID"]
        )
        assert json.loads(env["SKYPILOT_CLUSTER_INFO"]) == {
            "cluster_name": "envc",
            "cloud": "local",
            "region": "local",
            "zone": "z1",
        }
        assert env["SKYPILOT_USER"] == "alice"
        assert env["MY_VAR"] == "a b"
        assert env["TOKEN"] == "s3cret"
        assert env["HOME"] == str(home)
        for key in ("NODE_RANK", "NODE_IPS", "NUM_NODES", "TASK_ID", "INTERNAL_JOB_ID"):
            assert env["STIX_" + key] == env["SKYPILOT_" + key]
        assert "CUDA_VISIBLE_DEVICES" not in env or env.get("CUDA_VISIBLE_DEVICES") is not None
        setup = _read_env(home / "setup-env")
        assert setup["SKYPILOT_SETUP_NODE_RANK"] == str(rank)
        assert setup["SKYPILOT_SETUP_NODE_IPS"] == "127.0.0.1\n127.0.0.2"
        assert setup["SKYPILOT_SETUP_NUM_GPUS_PER_NODE"] == "0"
        assert setup["SKYPILOT_TASK_ID"] == env["SKYPILOT_TASK_ID"]
        assert "SKYPILOT_NODE_RANK" not in setup


def test_cuda_visible_devices_per_job(make_cluster):
    cluster = make_cluster([{"cpus": 4, "gpus": 2, "gpu_ids": [0, 1]}])
    ids = cluster.submit(
        *[
            {
                "name": f"g{i}",
                "run": "echo $CUDA_VISIBLE_DEVICES > $HOME/cvd-$SKYPILOT_INTERNAL_JOB_ID; sleep 1",
                "resources": {"cpus": 1, "gpus": 1},
            }
            for i in range(2)
        ],
        {
            "name": "cpu",
            "run": 'echo "[$CUDA_VISIBLE_DEVICES]" > $HOME/cvd-cpu',
            "resources": {"cpus": 1},
        },
    )
    for job_id in ids:
        assert cluster.wait(job_id)["status"] == "SUCCEEDED"
    seen = {(cluster.homes[0] / f"cvd-{i}").read_text().strip() for i in ids[:2]}
    assert seen == {"0", "1"}
    assert (cluster.homes[0] / "cvd-cpu").read_text().strip() == "[]"


def test_task_id_override_and_workdir(make_cluster):
    cluster = make_cluster()
    (cluster.homes[0] / "sky_workdir").mkdir()
    [job_id] = cluster.submit({"run": "pwd > $HOME/pwd", "task_id": "sky-managed-x_1-0"})
    assert cluster.wait(job_id)["status"] == "SUCCEEDED"
    assert (cluster.homes[0] / "pwd").read_text().strip() == str(cluster.homes[0] / "sky_workdir")
