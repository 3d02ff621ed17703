"""A damaged ``state.db`` is named and kept, never taken for empty; ``stix state recover``."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading

import pytest
import stix
from stix.errors import StateError
from stix.state import clusters as st
from stix.state.db import connect, state_path


def _stix(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stix", *args], capture_output=True, text=True, timeout=120
    )


def _filled(stix_home) -> bytes:
    store = st.ClusterStore()
    for i in range(200):
        store.put(st.ClusterRecord(name=f"c{i}", status=st.UP, resources="x" * 500))
    store.db.close()
    return state_path().read_bytes()


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda data: data[:5000], "truncated"),
        (lambda data: b"", "it is empty"),
        (lambda data: os.urandom(len(data)), "not a SQLite database"),
    ],
)
def test_damaged_state_is_one_line_naming_it_and_left_alone(stix_home, damage, why):
    bad = damage(_filled(stix_home))
    state_path().write_bytes(bad)
    proc = _stix("status")
    assert proc.returncode == 1
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(f"Error: {state_path()} is damaged ({why}")
    assert "stix state recover" in line
    assert state_path().read_bytes() == bad  # never overwritten


def test_leftover_wal_runs_quick_check(stix_home):
    _filled(stix_home)
    crash = (
        "import os, sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
        "c.execute('PRAGMA journal_mode=WAL'); c.execute('CREATE TABLE t (x)'); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", crash, str(state_path())], check=True)
    assert os.path.getsize(f"{state_path()}-wal") > 0  # what an unclean shutdown leaves
    with open(state_path(), "r+b") as fh:  # and a torn page in the middle of the file
        for page in range(3, 30, 3):
            fh.seek(4096 * page)
            fh.write(b"\xff" * 64)
    with pytest.raises(StateError, match="quick_check"):
        connect(state_path())


def test_many_first_opens_at_once_never_look_damaged(stix_home):
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            connect().execute("SELECT COUNT(*) FROM clusters").fetchone()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [p.name for p in state_path().parent.iterdir() if p.name.endswith(".new")] == []


def test_recover_rebuilds_the_cluster_list_from_live_agents(stix_home, plugin_registry):
    os.environ["STIX_QUIET"] = "1"
    try:
        task = stix.load_task({"run": "echo first"})
        stix.launch(task, cluster_name="rec")
        state_path().write_bytes(state_path().read_bytes()[:3000])
        damaged = state_path().read_bytes()
        proc = _stix("state", "recover")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "recovered cluster rec"
        [copy] = [
            p for p in state_path().parent.glob("state.db.damaged-*") if "-" not in p.name[-4:]
        ]
        assert copy.read_bytes() == damaged  # the damaged file is kept as it was
        [record] = stix.status(["rec"])
        assert record.status == "UP" and record.cloud == "local"
        ran = stix.exec(stix.load_task({"run": "echo again"}), "rec")
        assert (ran.job_id, ran.status) == (2, "SUCCEEDED")  # the agent kept its queue
        again = _stix("state", "recover")
        assert again.returncode == 0 and "intact" in again.stderr and again.stdout == ""
    finally:
        os.environ.pop("STIX_QUIET", None)
        for record in stix.status():
            stix.down(record.name, purge=True)


def test_recover_salvages_readable_rows(stix_home, plugin_registry):
    _filled(stix_home)
    data = bytearray(state_path().read_bytes())
    for page in range(3, 30, 3):  # damage some pages, not the schema
        data[4096 * page : 4096 * page + 64] = b"\xff" * 64
    state_path().write_bytes(bytes(data))
    from stix.state.recover import recover

    report = recover()
    assert report.damaged_copy is not None
    assert report.problem
    assert 0 < report.salvaged["clusters"] < 200  # what could be read was kept
    conn = sqlite3.connect(str(state_path()))
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert (
        conn.execute("SELECT COUNT(*) FROM clusters").fetchone()[0] == report.salvaged["clusters"]
    )


def test_emptied_job_database_is_named_and_recover_starts_a_new_queue(stix_home, plugin_registry):
    os.environ["STIX_QUIET"] = "1"
    try:
        stix.launch(stix.load_task({"run": "true"}), cluster_name="jq")
        [jobs_db] = stix_home.glob("local/*/node-0/home/.stix_agent/jobs.db")
        jobs_db.write_bytes(b"")
        proc = _stix("queue", "jq")
        assert proc.returncode == 1
        [line] = proc.stderr.strip().splitlines()
        assert f"job database {jobs_db} is damaged (it is empty)" in line
        proc = _stix("state", "recover")
        assert proc.returncode == 0, proc.stderr
        assert f"cluster jq: damaged job database kept as {jobs_db}.damaged-" in proc.stderr
        assert stix.exec(stix.load_task({"run": "echo again"}), "jq").status == "SUCCEEDED"
    finally:
        os.environ.pop("STIX_QUIET", None)
        for record in stix.status():
            stix.down(record.name, purge=True)


def _tear_middle_pages(path, first: int = 3) -> bytes:
    """Overwrite the start of some pages in the middle of a valid file (header intact)."""
    data = bytearray(path.read_bytes())
    pages = len(data) // 4096
    assert pages > first + 6, "the database must span many pages"
    for page in range(first, pages - 1, 2):
        data[4096 * page : 4096 * page + 128] = b"\xa5" * 128
    path.write_bytes(bytes(data))
    return bytes(data)


@pytest.mark.parametrize("command", [("status",), ("status", "--refresh"), ("down", "-y", "c7")])
def test_damage_found_mid_query_is_one_line_and_never_written(stix_home, command):
    _filled(stix_home)
    assert not os.path.exists(f"{state_path()}-wal")  # nothing tells the open about it
    bad = _tear_middle_pages(state_path())
    proc = _stix(*command)
    assert proc.returncode == 1, proc.stdout
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(f"Error: {state_path()} is damaged ("), line
    assert "stix state recover" in line and "unexpected" not in line
    assert state_path().read_bytes() == bad  # never written after the damage was seen


def test_damage_found_mid_query_in_the_library(stix_home):
    _filled(stix_home)
    _tear_middle_pages(state_path())
    store = st.ClusterStore()
    with pytest.raises(StateError, match="is damaged") as info:
        store.all()
    assert str(state_path()) in str(info.value)
    with pytest.raises(StateError, match="is damaged"):  # and it stays refused
        store.put(st.ClusterRecord(name="new", status=st.UP))


def test_job_database_damaged_mid_query_is_named(stix_home, plugin_registry):
    os.environ["STIX_QUIET"] = "1"
    try:
        stix.launch(stix.load_task({"run": "true"}), cluster_name="jm")
        [jobs_db] = stix_home.glob("local/*/node-0/home/.stix_agent/jobs.db")
        conn = sqlite3.connect(str(jobs_db), isolation_level=None)
        conn.executemany(  # finished jobs, so the queue has pages to read
            "INSERT INTO jobs(name, status, submitted_at, resources) VALUES (?, ?, ?, ?)",
            [(f"j{i}", "SUCCEEDED", 1.0, json.dumps("x" * 3000)) for i in range(60)],
        )
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        _tear_middle_pages(jobs_db, first=2)
        proc = _stix("queue", "jm")
        assert proc.returncode == 1
        [line] = proc.stderr.strip().splitlines()
        assert f"job database {jobs_db} is damaged" in line, line
        assert "unexpected" not in line
    finally:
        os.environ.pop("STIX_QUIET", None)
        for record in stix.status():
            stix.down(record.name, purge=True)
