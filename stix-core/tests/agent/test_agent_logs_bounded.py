"""``logs`` copies a log of any size through a fixed buffer, ``--tail`` reads from the end,
and a single node's output is stored once."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

BIG = 150 * 1024 * 1024  # larger than any RSS the streaming agent may reach

# Runs the agent with stdout thrown away and prints the child's peak RSS in KiB.
_MEASURE = """
import resource, subprocess, sys
proc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
sys.stderr.write(proc.stderr.decode())
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def _grow(cluster, job_id: int) -> str:
    job = cluster.wait(job_id)
    assert job["status"] == "SUCCEEDED"
    path = os.path.join(job["log_dir"], "run.log")
    size = os.path.getsize(path)
    os.truncate(path, size + BIG)  # a sparse run of NUL bytes without a newline
    with open(path, "ab") as fh:
        fh.write(b"\nlast-1\nlast-2\n")
    return path


def _peak_kib(cluster, *args: str) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, sys.executable, "-S", str(cluster.pyz), *args],
        capture_output=True,
        text=True,
        env=cluster.env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip()), proc.stderr


def test_a_huge_log_streams_in_bounded_memory(make_cluster):
    cluster = make_cluster()
    [job_id] = cluster.submit({"run": "echo first"})
    _grow(cluster, job_id)
    peak, err = _peak_kib(cluster, "logs", str(job_id))
    assert peak < 80 * 1024, f"agent peaked at {peak} KiB for a {BIG >> 20} MiB log"
    mark = [ln for ln in err.splitlines() if ln.startswith("STIX-JOB-STATUS ")][-1]
    assert json.loads(mark.split(" ", 1)[1])["status"] == "SUCCEEDED"


def test_tail_reads_from_the_end(make_cluster):
    cluster = make_cluster()
    [job_id] = cluster.submit({"run": "echo first"})
    _grow(cluster, job_id)
    assert cluster.run("logs", str(job_id), "--tail", "2").stdout == "last-1\nlast-2\n"
    # more lines asked for than the file has: the whole (huge) file, still bounded
    peak, _ = _peak_kib(cluster, "logs", str(job_id), "--tail", "10")
    assert peak < 80 * 1024


def _disk_bytes(log_dir: str) -> int:
    total = 0
    for folder, _, names in os.walk(log_dir):
        for name in names:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                total += os.path.getsize(path)
    return total


def test_single_node_output_is_stored_once(make_cluster):
    cluster = make_cluster()
    [job_id] = cluster.submit({"run": "echo once", "setup": "echo setting"})
    job = cluster.wait(job_id)
    log_dir = job["log_dir"]
    with open(os.path.join(log_dir, "run.log")) as fh:
        assert fh.read().split() == ["setting", "once"]
    assert _disk_bytes(log_dir) == os.path.getsize(os.path.join(log_dir, "run.log"))
    with open(os.path.join(log_dir, "tasks", "run.log")) as fh:  # SkyPilot's path still reads
        assert "once" in fh.read()


# Each rank prints MIB_PER_RANK MiB of 100-byte lines, the two ranks interleaving.
MIB_PER_RANK = 4
_PRINT = (
    "python3 -c 'import sys\n"
    'line = ("%d " % int(sys.argv[1]) + "x" * 97)[:99] + "\\n"\n'
    "out = sys.stdout\n"
    f"for i in range({MIB_PER_RANK} * 1024 * 1024 // 100):\n"
    "    out.write(line); out.flush() if i % 50 == 0 else None\n"
    "' $SKYPILOT_NODE_RANK"
)


def test_multi_node_output_is_stored_once(make_cluster):
    cluster = make_cluster([{"cpus": 1}, {"cpus": 1}])
    [job_id] = cluster.submit({"name": "big", "num_nodes": 2, "run": _PRINT})
    job = cluster.wait(job_id, timeout=120)
    assert job["status"] == "SUCCEEDED"
    output = 2 * (MIB_PER_RANK * 1024 * 1024 // 100) * 100
    stored = _disk_bytes(job["log_dir"])
    assert output <= stored < output * 1.1, f"{stored} bytes on disk for {output} of output"
    shown = subprocess.run(
        [sys.executable, "-S", str(cluster.pyz), "logs", str(job_id)],
        capture_output=True,
        env=cluster.env(),
        timeout=120,
    ).stdout
    lines = shown.splitlines(keepends=True)
    assert len(lines) == 2 * (MIB_PER_RANK * 1024 * 1024 // 100)
    for rank, role in ((0, "head"), (1, "worker1")):
        mine = [ln for ln in lines if ln.startswith(b"(%s, rank=%d, pid=" % (role.encode(), rank))]
        assert len(mine) == len(lines) // 2
        assert all(ln.endswith(b") %d " % rank + b"x" * 97 + b"\n") for ln in mine)
    tail = cluster.run("logs", str(job_id), "--tail", "3").stdout.encode()
    assert tail == b"".join(lines[-3:])


def test_multi_node_merged_view_keeps_arrival_order(make_cluster, tmp_path):
    cluster = make_cluster([{"cpus": 1}, {"cpus": 1}])
    flag = tmp_path / "turn"
    run = (  # the ranks take turns, so the order in which lines arrive is known
        f"w() {{ until [ -e {flag}$1 ]; do sleep 0.05; done; }}\n"
        f'if [ "$SKYPILOT_NODE_RANK" = 0 ]; then echo A; printf "part"; touch {flag}1; w 2; '
        f'echo " C"; touch {flag}3; w 4; exit 3\n'
        f'else w 1; echo B; touch {flag}2; w 3; printf "D\\nE"; touch {flag}4; fi'
    )
    head = r"\(head, rank=0, pid=\d+, ip=127\.0\.0\.1\) "
    worker = r"\(worker1, rank=1, pid=\d+, ip=127\.0\.0\.2\) "
    setup = (
        f'if [ "$SKYPILOT_SETUP_NODE_RANK" = 0 ]; then echo S0; touch {flag}S; '
        f"else until [ -e {flag}S ]; do sleep 0.05; done; exit 1; fi"
    )
    [job_id] = cluster.submit({"name": "ord", "num_nodes": 2, "setup": setup, "run": run})
    assert cluster.wait(job_id, timeout=60)["status"] == "FAILED_SETUP"
    shown = cluster.run("logs", str(job_id)).stdout
    assert re.fullmatch(f"{head}S0\nERROR: setup failed with return code 1\n", shown), shown
    [job_id] = cluster.submit({"name": "ord", "num_nodes": 2, "run": run})
    job = cluster.wait(job_id, timeout=60)
    assert job["status"] == "FAILED"
    shown = cluster.run("logs", str(job_id)).stdout
    want = (  # a rank's output is taken a line at a time (or 64 KiB of a longer line)
        f"{head}A\n{worker}B\n{head}part C\n{worker}D\n{worker}E"
        r"ERROR: job failed with return code list: \[3, 0\]\n"
    )
    assert re.fullmatch(want, shown), shown
    assert cluster.run("logs", str(job_id), "--follow").stdout == shown
    from stix.agent import mergedlog  # what `stix logs --sync-down` leaves as run.log

    mergedlog.write_merged(job["log_dir"], str(tmp_path / "copy.log"))
    assert (tmp_path / "copy.log").read_text() == shown
    assert cluster.run("logs", str(job_id), "--tail", "2").stdout == shown.split("\n", 3)[3]
    log_dir = job["log_dir"]
    tasks = Path(log_dir) / "tasks"
    assert (tasks / "0-head.log").read_text() == "A\npart C\n"
    assert (tasks / "1-worker1.log").read_text() == "B\nD\nE"
