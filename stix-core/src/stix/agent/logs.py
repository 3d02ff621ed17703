"""Printing and following a job's log: ``run.log``, or the merged view of several ranks.

The raw log goes to stdout; when the stream ends, one JSON line with the job's final
state goes to stderr, prefixed with ``STIX-JOB-STATUS `` so clients can pick it out.
Logs of any size are copied through a fixed buffer, and ``--tail`` reads from the end.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, Optional

from . import db, mergedlog, nodes, scheduler, states

STATUS_MARK = "STIX-JOB-STATUS "
CHUNK = 65536


def _tail_offset(path: str, lines: int) -> int:
    """Byte offset where the last ``lines`` lines of ``path`` start (read backwards)."""
    if lines <= 0:
        return 0
    start = mergedlog.scan_back(path, 0, os.path.getsize(path), lines, 0, True)[0]
    return start or 0


def _copy(path: str, offset: int, out: Any) -> int:
    """Write ``path`` from ``offset`` to its current end into ``out``; return the new offset."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        while True:
            data = fh.read(CHUNK)
            if not data:
                break
            out.write(data)
            offset += len(data)
    out.flush()
    return offset


def stream(home: str, job_id: Optional[int], follow: bool = False, tail: int = 0) -> None:
    """Write the log of ``job_id`` (default: the latest job) to stdout, following if asked."""
    conn = db.connect(home)
    if job_id is None:
        row = conn.execute("SELECT job_id FROM jobs ORDER BY job_id DESC LIMIT 1").fetchone()
        if row is None:
            sys.stderr.write(STATUS_MARK + json.dumps({"job_id": None, "status": None}) + "\n")
            return
        job_id = row["job_id"]
    row = db.job_row(conn, job_id)
    if row is None:
        sys.stderr.write(STATUS_MARK + json.dumps({"job_id": job_id, "status": None}) + "\n")
        return
    path = os.path.join(row["log_dir"], "run.log")
    out = sys.stdout.buffer
    offset = None
    last_check = 0.0
    cluster = None
    polls = 0
    merged: Optional[mergedlog.Reader] = None
    while True:
        status = conn.execute("SELECT status FROM jobs WHERE job_id = ?", (job_id,)).fetchone()[0]
        if merged is None and offset is None and mergedlog.is_merged(row["log_dir"]):
            merged = mergedlog.Reader(row["log_dir"])
            merged.seek_tail(tail)
        if merged is not None:  # several ranks: everything written before the state is seen
            merged.pump(out, final=states.is_terminal(status))
        elif os.path.exists(path):
            if offset is None:
                offset = _tail_offset(path, tail)
            offset = _copy(path, offset, out)
        if not follow or states.is_terminal(status):
            grew = os.path.exists(path) and os.path.getsize(path) > (offset or 0)
            if states.is_terminal(status) and offset is not None and grew and merged is None:
                continue  # the last bytes arrived with the state change
            break
        now = time.time()
        if now - last_check > 2.0:  # notice a dead driver while following
            cluster = cluster or nodes.load_cluster(home)
            scheduler.check_drivers(conn, cluster)
            last_check = now
        # Poll fast while a short job is likely to end soon, then back off.
        polls += 1
        time.sleep(0.01 if polls < 100 else 0.05 if polls < 400 else 0.2)
    sys.stderr.write(STATUS_MARK + json.dumps({"job_id": job_id, "status": status}) + "\n")
    sys.stderr.flush()
