"""Autostop: fires its command after the idle time, counts jobs as activity, survives restarts."""

from __future__ import annotations

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
