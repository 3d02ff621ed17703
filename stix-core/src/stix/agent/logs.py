"""Printing and following a job's aggregated ``run.log``.

The raw log goes to stdout; when the stream ends, one JSON line with the job's final
state goes to stderr, prefixed with ``STIX-JOB-STATUS `` so clients can pick it out.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Optional

from . import db, nodes, scheduler, states

STATUS_MARK = "STIX-JOB-STATUS "


def _tail_offset(path: str, lines: int) -> int:
    """Byte offset where the last ``lines`` lines of ``path`` start."""
    size = os.path.getsize(path)
    if lines <= 0:
        return 0
    with open(path, "rb") as fh:
        pos = size
        found = 0
        chunk = 65536
        while pos > 0:
            step = min(chunk, pos)
            pos -= step
            fh.seek(pos)
            data = fh.read(step)
            for i in range(len(data) - 1, -1, -1):
                if data[i] == 10 and pos + i != size - 1:
                    found += 1
                    if found == lines:
                        return pos + i + 1
        return 0


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
    while True:
        status = conn.execute("SELECT status FROM jobs WHERE job_id = ?", (job_id,)).fetchone()[0]
        if os.path.exists(path):
            if offset is None:
                offset = _tail_offset(path, tail)
            with open(path, "rb") as fh:
                fh.seek(offset)
                data = fh.read()
            if data:
                out.write(data)
                out.flush()
                offset += len(data)
        if not follow or states.is_terminal(status):
            grew = os.path.exists(path) and os.path.getsize(path) > (offset or 0)
            if states.is_terminal(status) and offset is not None and grew:
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
