"""End to end on the local cloud, driving the CLI as a user would (real processes, no mocks)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest
from stix.testing.processes import pid_alive

from .conftest import REPO, marked_pids, wait_for

pytestmark = pytest.mark.e2e


def test_launch_exec_queue_logs_down(stix):
    out = stix("launch", "-y", "-c", "e1", "echo hello-from-launch")
    assert "hello-from-launch" in out.stdout
    assert "SUCCEEDED" in out.stderr
    out = stix("exec", "e1", "echo again $SKYPILOT_INTERNAL_JOB_ID")
    assert "again 2" in out.stdout
    jobs = stix.jobs("e1")
    assert [jobs[1]["status"], jobs[2]["status"]] == ["SUCCEEDED", "SUCCEEDED"]
    assert "hello-from-launch" in stix("logs", "e1", "1").stdout
    assert stix("logs", "e1", "1", "--status").returncode == 0
    [row] = stix.json("status")
    assert row["name"] == "e1" and row["status"] == "UP" and row["cloud"] == "local"
    stix("down", "-y", "e1")
    assert stix.json("status") == []
    assert not list((stix.home / "local").iterdir())
    assert marked_pids(stix.home) == []
    report = stix.json("cost-report")
    assert report[0]["name"] == "e1" and report[0]["status"] == "TERMINATED"


def test_examples_run_as_they_are(stix):
    out = stix("launch", "-y", "-c", "mn", "examples/multi_node.yaml")
    assert "I am the head" in out.stdout and "worker reporting to head" in out.stdout
    for rank in (0, 1):
        assert f"rank {rank} of 2" in out.stdout
    out = stix("launch", "-y", "-c", "wd", "examples/workdir_setup.yaml")
    assert "setup output is here" in out.stdout and "hello from node rank 0" in out.stdout
    assert not (stix.node_home("wd") / "sky_workdir" / "debug.log").exists()
    out = stix("launch", "-y", "-c", "mini", "examples/minimal.yaml")
    assert "hello from STIX" in out.stdout


def test_logs_follow_a_running_job(stix):
    stix("launch", "-y", "-c", "f1", "-d", "for i in 1 2 3; do echo tick$i; sleep 0.4; done")
    out = stix("logs", "f1")
    assert out.stdout.split() == ["tick1", "tick2", "tick3"]
    assert stix.jobs("f1")[1]["status"] == "SUCCEEDED"


def test_cancel_kills_the_running_job(stix):
    stix("launch", "-y", "-c", "c1", "-d", "sleep 300 & echo $! > ~/child; echo $$ > ~/shell; wait")
    home = stix.node_home("c1")
    wait_for(lambda: (home / "child").exists() and (home / "shell").exists(), what="job start")
    time.sleep(0.1)
    pids = [int((home / n).read_text()) for n in ("child", "shell")]
    assert all(pid_alive(p) for p in pids)
    stix("cancel", "c1", "1")
    wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=10, what="job processes to die")
    assert stix.jobs("c1")[1]["status"] == "CANCELLED"


def test_stop_keeps_disk_and_start_restarts(stix):
    stix("launch", "-y", "-c", "s1", "echo kept > ~/keep.txt")
    stix("stop", "-y", "s1")
    assert stix.status("s1") == "STOPPED"
    assert marked_pids(stix.home) == []  # agent and jobs are gone
    assert stix.json("queue", "s1")[0]["status"] == "SUCCEEDED"  # last seen copy
    bad = stix("exec", "s1", "true", check=False)
    assert bad.returncode == 1 and "STOPPED" in bad.stderr
    stix("start", "-y", "s1")
    assert stix.status("s1") == "UP"
    assert "kept" in stix("exec", "s1", "cat ~/keep.txt").stdout


def test_autostop_and_autodown(stix):
    stix("launch", "-y", "-c", "a1", "-i", "0.02", "echo hi")
    wait_for(lambda: stix.status("a1") == "STOPPED", timeout=20, what="autostop")
    # attached --down: the job's whole log is shown, then the cluster is gone at once
    out = stix("launch", "-y", "-c", "a2", "--down", "echo bye")
    assert "bye" in out.stdout
    assert stix.status("a2") is None
    assert not list((stix.home / "local").glob("a2-*"))
    # detached: the head's agent tears the cluster down once idle
    stix("launch", "-y", "-d", "-c", "a3", "-i", "0.02", "--down", "echo bye")
    wait_for(lambda: stix.status("a3") is None, timeout=20, what="autodown")
    assert not list((stix.home / "local").glob("a3-*"))


def test_failed_setup_and_failed_run_exit_codes(stix, tmp_path):
    task = tmp_path / "bad_setup.yaml"
    task.write_text("setup: exit 4\nrun: echo never\n")
    out = stix("launch", "-y", "-c", "x1", str(task), check=False)
    assert out.returncode == 100
    assert "FAILED_SETUP" in out.stderr and "never" not in out.stdout
    assert stix.jobs("x1")[1]["status"] == "FAILED_SETUP"
    out = stix("exec", "x1", "echo partial; exit 3", check=False)
    assert out.returncode == 100
    assert "FAILED" in out.stderr and "exit code 3" in out.stderr
    assert stix.jobs("x1")[2]["exit_codes"] == [3]
    assert stix("logs", "x1", "2", "--status", check=False).returncode == 100


def test_gpu_jobs_run_one_after_the_other(stix):
    stix.env["STIX_LOCAL_GPUS"] = "FakeGPU:1"
    job = "echo start $(date +%s.%N) >> ~/t-$SKYPILOT_INTERNAL_JOB_ID; sleep 0.7; echo end $(date +%s.%N) >> ~/t-$SKYPILOT_INTERNAL_JOB_ID"
    stix("launch", "-y", "-c", "g1", "-d", "--gpus", "FakeGPU:1", job)
    stix("exec", "g1", "-d", "--gpus", "FakeGPU:1", job)
    stix.wait_job("g1", 2)
    home = stix.node_home("g1")
    spans = []
    for job_id in (1, 2):
        lines = dict(line.split() for line in (home / f"t-{job_id}").read_text().splitlines())
        spans.append((float(lines["start"]), float(lines["end"])))
    assert spans[1][0] >= spans[0][1]


def test_killed_launch_is_cleaned_by_refresh_and_down(stix):
    proc = stix.popen("launch", "-y", "-c", "k1", "echo $$ > ~/pid; sleep 300")
    wait_for(lambda: list((stix.home / "local").glob("k1-*/node-0/home/pid")), what="job start")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stix("status", "--refresh")
    stix("down", "-y", "k1")
    assert stix.json("status") == []
    assert not list((stix.home / "local").glob("k1-*"))
    assert marked_pids(stix.home) == []


def test_killed_early_launch_leaves_nothing_after_refresh(stix):
    proc = stix.popen("launch", "-y", "-c", "k2", "true")
    wait_for(lambda: stix.status("k2") is not None, what="INIT record")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stix("status", "--refresh")
    if stix.status("k2") is not None:
        stix("down", "-y", "k2")
    assert stix.json("status") == []
    assert marked_pids(stix.home) == []


def test_preempted_spot_cluster_shows_on_refresh(stix):
    stix("launch", "-y", "-c", "sp", "--use-spot", "--num-nodes", "2", "-d", "sleep 300")
    stix("local", "preempt", "sp", "--node", "1")
    assert stix.json("status", "--refresh")[0]["status"] == "INIT"
    stix("local", "preempt", "sp")
    assert stix.json("status", "--refresh") == []


@pytest.mark.slow
def test_twenty_concurrent_launches(stix):
    procs = [stix.popen("launch", "-y", "-c", f"p{i}", "-d", f"echo {i}") for i in range(20)]
    results = [(*p.communicate(timeout=240), p.returncode) for p in procs]
    assert [r[2] for r in results] == [0] * 20, [r[1] for r in results if r[2]]
    rows = stix.json("status")
    assert sorted(r["name"] for r in rows) == sorted(f"p{i}" for i in range(20))
    assert {r["status"] for r in rows} == {"UP"}
    subprocess.run(
        stix.argv("down", "-a", "-y"), env=stix.env, check=True, capture_output=True, timeout=240
    )
    assert stix.json("status") == []


def test_secrets_are_used_but_never_stored_or_printed(stix):
    stix.env["MY_TOKEN_VALUE"] = "hunter2-abc"
    out = stix("launch", "-y", "-c", "sec", "--secret", "TOKEN=hunter2-abc", "echo len=${#TOKEN}")
    assert "len=11" in out.stdout
    assert "hunter2-abc" not in out.stdout + out.stderr
    stix("queue", "sec")
    stix("status", "-v")
    for path in stix.home.rglob("*"):
        if path.is_file() and path.suffix in (".db", ".db-wal", ".json", ".log", ""):
            assert b"hunter2-abc" not in path.read_bytes(), path


def test_setup_runs_each_launch_unless_fast_and_unchanged(stix, tmp_path):
    task = tmp_path / "count.yaml"
    task.write_text("setup: echo x >> ~/setups\nrun: wc -l < ~/setups\n")
    assert stix("launch", "-y", "-c", "fs", str(task)).stdout.split() == ["1"]
    assert stix("launch", "-y", "-c", "fs", str(task)).stdout.split() == ["2"]
    assert stix("launch", "-y", "-c", "fs", "--fast", str(task)).stdout.split() == ["2"]
    assert stix("exec", "fs", str(task)).stdout.split() == ["2"]
    task.write_text("setup: echo y >> ~/setups\nrun: wc -l < ~/setups\n")
    assert stix("launch", "-y", "-c", "fs", "--fast", str(task)).stdout.split() == ["3"]
    # a setup that failed does not count as done: --fast runs it again
    bad = tmp_path / "bad.yaml"
    bad.write_text("setup: echo z >> ~/setups; exit 4\nrun: echo ran\n")
    assert stix("launch", "-y", "-c", "fs", str(bad), check=False).returncode == 100
    out = stix("launch", "-y", "-c", "fs", "--fast", str(bad), check=False)
    assert out.returncode == 100 and "FAILED_SETUP" in out.stderr and "ran" not in out.stdout
    # a detached launch never learns how setup ended, so it does not count either
    stix("launch", "-y", "-d", "-c", "fs", str(task))
    stix.wait_job("fs", 8)
    assert stix("launch", "-y", "-c", "fs", "--fast", str(task)).stdout.split() == ["7"]


def test_workdir_ignores_file_mounts_and_fast_resync(stix, tmp_path):
    wd = tmp_path / "wd"
    for rel, text in {
        ".gitignore": "*.log\n",
        "main.py": "v1\n",
        "x.log": "noise",
        "sub/.gitignore": "secret.txt\n",
        "sub/secret.txt": "s",
        "sub/keep.py": "k",
    }.items():
        (wd / rel).parent.mkdir(parents=True, exist_ok=True)
        (wd / rel).write_text(text)
    mount = tmp_path / "mount.txt"
    mount.write_text("m1\n")
    task = tmp_path / "wd.yaml"
    task.write_text(
        f"workdir: {wd}\nfile_mounts:\n  ~/m/mount.txt: {mount}\n"
        "setup: echo x >> ~/setups\nrun: cat main.py ~/m/mount.txt; wc -l < ~/setups\n"
    )
    out = stix("launch", "-y", "-c", "wdf", str(task))
    assert out.stdout.split() == ["v1", "m1", "1"]
    assert "Syncing workdir" in out.stderr and "Syncing 1 file mount" in out.stderr
    node = stix.node_home("wdf") / "sky_workdir"
    assert sorted(str(p.relative_to(node)) for p in node.rglob("*") if p.is_file()) == [
        ".gitignore",
        "main.py",
        "sub/.gitignore",
        "sub/keep.py",
    ]
    # --fast re-syncs (rsync only copies what changed) and reruns setup only on change.
    assert stix("launch", "-y", "-c", "wdf", "--fast", str(task)).stdout.split()[-1] == "1"
    (wd / "x.log").write_text("more noise")  # ignored: neither synced nor a change
    assert stix("launch", "-y", "-c", "wdf", "--fast", str(task)).stdout.split()[-1] == "1"
    (wd / "main.py").write_text("v2\n")
    assert stix("launch", "-y", "-c", "wdf", "--fast", str(task)).stdout.split() == [
        "v2",
        "m1",
        "2",
    ]
    mount.write_text("m2\n")
    assert stix("launch", "-y", "-c", "wdf", "--fast", str(task)).stdout.split() == [
        "v2",
        "m2",
        "3",
    ]


def test_killed_launch_during_setup_and_during_provisioning(stix, tmp_path):
    task = tmp_path / "slow_setup.yaml"
    task.write_text("setup: echo $$ > ~/setup.pid; sleep 300\nrun: echo never\n")
    proc = stix.popen("launch", "-y", "-c", "ks", str(task))
    wait_for(lambda: list((stix.home / "local").glob("ks-*/node-0/home/setup.pid")), what="setup")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # Killed while the node exists but before the agent is ready.
    proc = stix.popen("launch", "-y", "-c", "kp", "--num-nodes", "2", "sleep 300")
    wait_for(lambda: list((stix.home / "local").glob("kp-*/node-1")), timeout=30, what="nodes")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rows = {r["name"]: r["status"] for r in stix.json("status", "--refresh")}
    assert rows.get("ks") == "UP" and set(rows) <= {"ks", "kp"}
    assert stix.jobs("ks")[1]["status"] == "SETTING_UP"  # setup is part of the job
    stix("down", "-y", *rows)
    assert stix.json("status") == []
    assert list((stix.home / "local").iterdir()) == []
    assert marked_pids(stix.home) == []


def test_queue_skip_finished_cancel_all_and_down_all(stix):
    stix("launch", "-y", "-c", "qa", "--cpus", "1", "-d", "true")
    stix.wait_job("qa", 1)
    for _ in range(3):
        stix("exec", "qa", "-d", "--cpus", "1", "sleep 300")
    stix("launch", "-y", "-c", "qb", "-d", "true")
    running = stix.json("queue", "-s", "qa")
    assert sorted(j["job_id"] for j in running) == [2, 3, 4]
    assert {j["status"] for j in running} <= {"PENDING", "RUNNING", "SETTING_UP"}
    out = stix("cancel", "qa", "--all")
    assert "2, 3, 4" in out.stderr
    assert stix.json("queue", "-s", "qa") == []
    assert [j["status"] for j in stix.json("queue", "qa")] == ["CANCELLED"] * 3 + ["SUCCEEDED"]
    table = stix("queue", "qa", "qb").stdout
    assert "Job queue of cluster qa" in table and "Job queue of cluster qb" in table
    stix("down", "-a", "-y")
    assert stix.json("status") == [] and marked_pids(stix.home) == []


def test_autostop_command_down_cancel_and_agent_restart(stix):
    for name in ("ad", "ac", "ar"):
        stix("launch", "-y", "-c", name, "-d", "true")
    stix("autostop", "ad", "-i", "0.03", "--down")
    stix("autostop", "ac", "-i", "0.03")
    stix("autostop", "ac", "--cancel")
    assert stix.json("status", "ac")[0]["autostop_minutes"] == -1
    stix("autostop", "ar", "-i", "0.05")
    daemon_pid = int(
        next((stix.home / "local").glob("ar-*/node-0/home/.stix_agent/daemon.pid")).read_text()
    )
    os.kill(daemon_pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(daemon_pid), what="agent to die")
    assert stix.status("ar") == "UP"
    assert stix.json("status", "--refresh", "ar")[0]["status"] == "INIT"  # agent gone
    stix("start", "-y", "ar")  # restarts the agent; the setting was kept on the node
    wait_for(lambda: stix.status("ad") is None, timeout=20, what="autodown")
    wait_for(lambda: stix.status("ar") == "STOPPED", timeout=20, what="autostop after restart")
    time.sleep(1)
    assert stix.status("ac") == "UP"


def test_env_vars_follow_the_spec(stix, tmp_path):
    import json as json_

    stix.env["STIX_LOCAL_GPUS"] = "FakeGPU:2"
    task = tmp_path / "env.yaml"
    task.write_text(
        "num_nodes: 2\nresources:\n  accelerators: FakeGPU:2\n"
        "setup: echo setup=$SKYPILOT_SETUP_NODE_RANK:${CUDA_VISIBLE_DEVICES-unset} >> ~/env\n"
        "run: python3 -c 'import json,os; print(json.dumps(dict(os.environ)))' > ~/env.json\n"
    )
    stix("launch", "-y", "-c", "ev", str(task))
    envs = [json_.loads((stix.node_home("ev", i) / "env.json").read_text()) for i in (0, 1)]
    ips = [json_.loads((stix.home / "local").glob("ev-*/node-0/node.json").__next__().read_text())]
    assert (stix.node_home("ev", 1) / "env").read_text() == "setup=1:unset\n"
    for rank, env in enumerate(envs):
        assert env["SKYPILOT_NODE_RANK"] == str(rank) == env["STIX_NODE_RANK"]
        assert env["SKYPILOT_NUM_NODES"] == "2" and env["SKYPILOT_NUM_GPUS_PER_NODE"] == "2"
        assert env["SKYPILOT_INTERNAL_JOB_ID"] == "1"
        assert env["CUDA_VISIBLE_DEVICES"] == "0,1"
        tid = env["SKYPILOT_TASK_ID"]
        assert re.fullmatch(r"sky-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-\d{6}_ev_1", tid), tid
        info = json_.loads(env["SKYPILOT_CLUSTER_INFO"])
        assert info == {"cluster_name": "ev", "cloud": "local", "region": "local", "zone": None}
    node_ips = envs[0]["SKYPILOT_NODE_IPS"].split("\n")
    assert (
        len(node_ips) == 2
        and node_ips[0] == ips[0]["ip"]
        and envs[1]["SKYPILOT_NODE_IPS"] == envs[0]["SKYPILOT_NODE_IPS"]
    )
    # Two 1-GPU jobs side by side on a 2-GPU node see different devices.
    for _ in range(2):
        stix(
            "exec",
            "ev",
            "-d",
            "--num-nodes",
            "1",
            "--gpus",
            "FakeGPU:1",
            # each job waits (30 s at most) until both run, so they overlap however slow
            # the machine is; a job that finished early would free its GPU for the other
            "echo cvd=$CUDA_VISIBLE_DEVICES; touch ~/cvd-$SKYPILOT_INTERNAL_JOB_ID; "
            "for i in $(seq 300); do [ $(ls ~/cvd-* | wc -l) -ge 2 ] && break; sleep 0.1; done",
        )
    seen = sorted(stix("logs", "ev", str(j)).stdout.strip() for j in (2, 3))
    assert seen == ["cvd=0", "cvd=1"]


def test_bad_input_is_one_clear_line(stix):
    stix("launch", "-y", "-c", "bi", "-d", "true")
    cases = [
        (("exec", "nope", "true"), "'nope'"),
        (("logs", "nope"), "'nope'"),
        (("queue", "nope"), "'nope'"),
        (("down", "-y", "nope"), "'nope'"),
        (("logs", "bi", "99"), "job 99"),
        (("logs", "bi", "abc"), "JOB_IDS"),
        (("cancel", "bi", "99"), "job 99"),
        (("launch", "-y", "--cpus", "banana", "true"), "cpus"),
        (("launch", "-y", "-c", "bad name", "true"), "cluster name"),
        (("status", "--no-such-flag"), "--no-such-flag"),
    ]
    for args, needle in cases:
        out = stix(*args, check=False)
        assert out.returncode != 0, args
        assert needle in out.stderr and "Traceback" not in out.stderr, (args, out.stderr)
        assert len([x for x in out.stderr.splitlines() if x.startswith("Error")]) == 1, args
    assert stix("logs", "bi", "99", "--status", check=False).returncode == 102
    stix("exec", "bi", "-d", "sleep 300")
    assert stix("logs", "bi", "2", "--status", check=False).returncode == 101
    stix("cancel", "bi", "2")
    assert stix("logs", "bi", "2", "--status", check=False).returncode == 103


def test_colour_and_progress_only_on_a_tty(stix):
    import pty

    out = stix("launch", "-y", "-c", "tt", "echo hi")
    assert "\x1b[" not in out.stdout + out.stderr
    assert "⚙ Provisioning cluster tt... done" in out.stderr
    assert "\x1b[" not in stix("status").stdout + stix("queue", "tt").stdout
    for args in (("status",), ("queue", "tt")):
        pid, fd = pty.fork()
        if pid == 0:
            os.chdir(REPO)
            os.execve(stix.argv()[0], [*stix.argv(), *args], stix.env)
        text = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            text += chunk
        os.waitpid(pid, 0)
        assert b"\x1b[32m" in text, (args, text)  # UP / SUCCEEDED in green
