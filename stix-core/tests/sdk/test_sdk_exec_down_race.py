"""An attached ``stix exec`` whose cluster is torn down under it fails, saying so."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import stix
from stix.task import load_task


def test_exec_racing_down_exits_non_zero(stix_home, plugin_registry, monkeypatch):
    monkeypatch.setenv("STIX_QUIET", "1")
    stix.launch(load_task({"run": "true"}), cluster_name="race")
    try:
        follower = subprocess.Popen(
            [sys.executable, "-m", "stix", "exec", "race", "echo started; sleep 120"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            jobs = [j for j in stix.queue("race") if j["job_id"] == 2]
            if jobs and jobs[0]["status"] == "RUNNING":
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the exec'd job never ran")
        stix.down("race")
        out, err = follower.communicate(timeout=60)
    finally:
        for record in stix.status():
            stix.down(record.name, purge=True)
    assert follower.returncode != 0, (out, err)
    assert "cluster race went away while following job 2" in err
    assert "Traceback" not in err
