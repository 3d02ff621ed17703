"""The client's environment stays out of jobs, and cluster locks leave no files behind."""

from __future__ import annotations

import multiprocessing
import os
import time

import pytest
import stix
from stix.sdk.locks import cluster_lock
from stix.task import load_task


@pytest.fixture
def sdk_home(stix_home, plugin_registry, monkeypatch):
    monkeypatch.setenv("STIX_QUIET", "1")
    yield stix_home
    for record in stix.status():
        stix.down(record.name, purge=True)


def test_client_environment_does_not_reach_jobs(sdk_home, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "client-secret")
    monkeypatch.setenv("MY_PRIVATE_SETTING", "client-only")
    monkeypatch.setenv("LANG", "C.UTF-8")
    task = load_task({"run": "env", "envs": {"WANTED": "yes"}, "secrets": {"TOKEN": "t0k"}})
    result = stix.launch(task, cluster_name="envc", detach_run=True)
    chunks: list[bytes] = []
    assert stix.tail_logs("envc", result.job_id, write=chunks.append)[1] == "SUCCEEDED"
    env = dict(line.split("=", 1) for line in b"".join(chunks).decode().splitlines() if "=" in line)
    assert "AWS_SECRET_ACCESS_KEY" not in env and "MY_PRIVATE_SETTING" not in env
    assert env["WANTED"] == "yes" and env["TOKEN"] == "t0k"
    assert env["SKYPILOT_NODE_RANK"] == "0" and env["STIX_NODE_RANK"] == "0"
    assert env["PATH"] and env["LANG"] == "C.UTF-8" and env["HOME"].endswith("home")


def _hold(home: str, name: str, ready: multiprocessing.Event, stamps: list) -> None:
    os.environ["STIX_HOME"] = home
    with cluster_lock(name):
        stamps.append(("in", time.monotonic()))
        ready.set()
        time.sleep(1.0)
        stamps.append(("out", time.monotonic()))


def test_lock_files_do_not_pile_up_and_still_exclude(stix_home):
    for i in range(20):
        with cluster_lock(f"c{i}"):
            pass
    assert list((stix_home / "locks").iterdir()) == []
    ctx = multiprocessing.get_context("fork")
    with ctx.Manager() as manager:
        stamps = manager.list()
        ready = manager.Event()
        other = ctx.Process(target=_hold, args=(str(stix_home), "c1", ready, stamps))
        other.start()
        assert ready.wait(30)
        with cluster_lock("c1"):
            inside = time.monotonic()
        other.join(30)
        [(_, start), (_, end)] = list(stamps)
    assert inside >= end > start  # waited for the holder, then got the lock
    assert list((stix_home / "locks").iterdir()) == []
