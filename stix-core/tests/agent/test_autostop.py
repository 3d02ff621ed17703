"""Autostop: fires its command after the idle time, counts jobs as activity, survives restarts."""

from __future__ import annotations

import json
import os
import signal
import sys
import time


def _marker_cluster(make_cluster, tmp_path):
    marker = tmp_path / "fired"
    cmd = [
        sys.executable,
        "-c",
        f"import sys; open({str(marker)!r}, 'a').write(' '.join(sys.argv[1:]))",
    ]
    cluster = make_cluster(autostop_commands={"stop": [*cmd, "stop"], "down": [*cmd, "down"]})
    return cluster, marker


def _wait(path, timeout=15.0) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists():
            return path.read_text()
        time.sleep(0.1)
    raise AssertionError("autostop did not fire")


def test_autostop_fires_after_idle(make_cluster, tmp_path):
    cluster, marker = _marker_cluster(make_cluster, tmp_path)
    cluster.call("set-autostop", "--idle-seconds", "1")
    assert _wait(marker) == "stop"
    assert cluster.call("get-autostop")["fired"]["down"] is False


def test_autodown_variant(make_cluster, tmp_path):
    cluster, marker = _marker_cluster(make_cluster, tmp_path)
    cluster.call("set-autostop", "--idle-seconds", "0.5", "--down")
    assert _wait(marker) == "down"


def test_running_job_blocks_autostop(make_cluster, tmp_path):
    cluster, marker = _marker_cluster(make_cluster, tmp_path)
    [job_id] = cluster.submit({"run": "sleep 2.5"})
    cluster.call("set-autostop", "--idle-seconds", "1")
    cluster.wait(job_id)
    end = cluster.job(job_id)["end_at"]
    _wait(marker)
    assert marker.stat().st_mtime >= end + 0.9


def test_autostop_survives_daemon_restart(make_cluster, tmp_path):
    cluster, marker = _marker_cluster(make_cluster, tmp_path)
    cluster.call("set-autostop", "--idle-seconds", "2")
    os.kill(cluster.daemon_pid(), signal.SIGKILL)
    time.sleep(0.2)
    assert cluster.daemon_pid() is None
    assert cluster.call("start-daemon")["daemon_pid"]
    assert _wait(marker) == "stop"


def test_cancel_autostop(make_cluster, tmp_path):
    cluster, marker = _marker_cluster(make_cluster, tmp_path)
    cluster.call("set-autostop", "--idle-seconds", "1")
    cluster.call("set-autostop", "--cancel")
    time.sleep(2.5)
    assert not marker.exists()
    assert cluster.call("get-autostop")["autostop"]["idle_seconds"] == -1


def test_autostop_command_gets_its_secret_env_and_cluster_ids(make_cluster, tmp_path):
    """The cloud's API key reaches the autostop command alone: 0600 file, not logged."""
    marker = tmp_path / "env"
    cmd = [
        sys.executable,
        "-c",
        "import json, os\n"
        "keys = ('FAKE_CLOUD_KEY', 'STIX_CLUSTER_NAME_ON_CLOUD', 'STIX_INSTANCE_IDS')\n"
        f"open({str(marker) + '.tmp'!r}, 'w').write(json.dumps({{k: os.environ.get(k) for k in keys}}))\n"
        f"os.replace({str(marker) + '.tmp'!r}, {str(marker)!r})",
    ]
    key = "sk-live-0123456789abcdef"
    cluster = make_cluster(
        autostop_commands={"down": cmd},
        autostop_env={"FAKE_CLOUD_KEY": key},
        cluster_name_on_cloud="c0-ab12",
        instance_ids=["i-head", "i-w1"],
    )
    stored = cluster.agent_home / "secrets" / "autostop.json"
    assert stored.stat().st_mode & 0o077 == 0
    assert key not in (cluster.agent_home / "cluster.json").read_text()
    seen_by_job = tmp_path / "job-env"
    [job_id] = cluster.submit({"run": f"env > {seen_by_job}"})
    assert cluster.wait(job_id)["status"] == "SUCCEEDED"
    assert key not in seen_by_job.read_text()  # jobs do not get it
    cluster.call("set-autostop", "--idle-seconds", "0.3", "--down")
    assert json.loads(_wait(marker)) == {
        "FAKE_CLOUD_KEY": key,
        "STIX_CLUSTER_NAME_ON_CLOUD": "c0-ab12",
        "STIX_INSTANCE_IDS": "i-head,i-w1",
    }
    logs = "".join(p.read_text(errors="replace") for p in cluster.agent_home.rglob("*.log"))
    assert "autostop fired" in logs and key not in logs
