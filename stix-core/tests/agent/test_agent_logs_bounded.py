"""``logs`` copies a log of any size through a fixed buffer, ``--tail`` reads from the end,
and a single node's output is stored once."""

from __future__ import annotations

import json
import os
import subprocess
import sys

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


def test_single_node_output_is_stored_once(make_cluster):
    cluster = make_cluster()
    [job_id] = cluster.submit({"run": "echo once", "setup": "echo setting"})
    job = cluster.wait(job_id)
    log_dir = job["log_dir"]
    with open(os.path.join(log_dir, "run.log")) as fh:
        assert fh.read().split() == ["setting", "once"]
    total = 0
    for folder, _, names in os.walk(log_dir):
        for name in names:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                total += os.path.getsize(path)
    assert total == os.path.getsize(os.path.join(log_dir, "run.log"))
    with open(os.path.join(log_dir, "tasks", "run.log")) as fh:  # SkyPilot's path still reads
        assert "once" in fh.read()
