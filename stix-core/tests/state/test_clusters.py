"""The state DB: cluster records, history for cost-report, job mirror, many writers at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from stix.state import clusters as st
from stix.state.db import MIGRATIONS, connect


def _record(name: str, **kw) -> st.ClusterRecord:
    return st.ClusterRecord(name=name, status=st.INIT, launched_at=1.0, num_nodes=2, **kw)


def test_migrations_are_applied_once(stix_home):
    conn = connect()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn2 = connect()
    tables = {r[0] for r in conn2.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"clusters", "cluster_history", "jobs"} <= tables


def test_put_get_update_remove(stix_home):
    store = st.ClusterStore()
    store.put(_record("a", handle={"cluster_name_on_cloud": "a-1"}, hourly_price=2.5))
    got = store.get("a")
    assert got is not None and got.handle == {"cluster_name_on_cloud": "a-1"}
    assert got.hourly_price == 2.5 and got.autostop_minutes == -1
    updated = store.update("a", autostop_minutes=0.5, autostop_down=True)
    assert updated is not None and updated.autostop_down is True
    assert "handle" not in updated.as_dict()
    assert store.update("missing", status=st.UP) is None
    store.remove("a")
    assert store.get("a") is None and store.all() == []


def test_history_intervals_follow_status(stix_home):
    store = st.ClusterStore()
    store.put(_record("h", hourly_price=3.0))
    history_id = store.start_history(store.get("h"), "h-1")
    store.update("h", history_id=history_id)
    store.set_status("h", st.UP)
    store.set_status("h", st.STOPPED)
    store.set_status("h", st.UP)
    store.remove("h")
    [row] = store.history()
    assert row["status"] == "TERMINATED" and row["terminated_at"]
    assert len(row["intervals"]) == 2
    assert all(end is not None for _, end in row["intervals"])
    assert st.usage_hours(row["intervals"]) >= 0


def test_job_mirror_round_trip(stix_home):
    store = st.ClusterStore()
    store.put(_record("j"))
    store.mirror_jobs("j", [{"job_id": 1, "status": "SUCCEEDED", "exit_codes": [0]}])
    store.mirror_jobs(
        "j",
        [
            {"job_id": 1, "status": "SUCCEEDED", "exit_codes": [0]},
            {"job_id": 2, "status": "FAILED", "exit_codes": [3]},
        ],
    )
    jobs = store.mirrored_jobs("j")
    assert [(j["job_id"], j["status"], j["exit_codes"]) for j in jobs] == [
        (2, "FAILED", [3]),
        (1, "SUCCEEDED", [0]),
    ]


def test_twenty_concurrent_writers(stix_home):
    script = textwrap.dedent(
        """
        import sys
        from stix.state.clusters import ClusterRecord, ClusterStore, UP
        store = ClusterStore()
        name = "c" + sys.argv[1]
        store.put(ClusterRecord(name=name, status="INIT", launched_at=1.0))
        for i in range(20):
            store.update(name, last_command=str(i))
            store.set_status(name, UP)
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(i)], stderr=subprocess.PIPE, text=True)
        for i in range(20)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 20, errors
    rows = st.ClusterStore().all()
    assert len(rows) == 20
    assert {(r.status, r.last_command) for r in rows} == {(st.UP, "19")}


def test_status_command_stays_light(stix_home):
    code = (
        "import sys; from stix.cli import main\n"
        "try:\n    main(['status'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in sys.modules if m.startswith(('stix.optimizer', 'stix.catalog', 'sqlite_utils'))]\n"
        "print(heavy)"
    )
    connect().close()  # migrated DB, as after any earlier command
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
