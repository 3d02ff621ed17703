"""One managed-jobs controller holding 10,000 jobs on the local cloud.

    python benchmarks/jobs_controller.py [--jobs 10000] [--workers 2] [--window 60]
                                         [--dedicated 20] [--json]

In a throw-away ``$STIX_HOME``: start a pool of warm workers, submit ``--jobs`` small jobs
through the SDK, and measure the submission rate, ``jobs queue`` latency with every row,
and the controller's RSS and CPU while it runs them for ``--window`` seconds. Then the
same controller runs ``--dedicated`` jobs that each start their own local cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CONFIG = """
jobs:
  poll_seconds: 2
  tick_seconds: 1
  launch_backoff_seconds: 5
  pool_jobs_per_worker: {per_worker}
  controller: {{idle_minutes: 30}}
"""


def proc_sample(pid: int) -> tuple[float, float]:
    """(RSS MiB, CPU seconds so far) of a process, from /proc."""
    with open(f"/proc/{pid}/status") as fh:
        rss = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss, (int(fields[11]) + int(fields[12])) / ticks


def controller_pid() -> int:
    import sqlite3

    from stix_jobs.client import controller_home

    home = controller_home()
    assert home is not None
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with sqlite3.connect(str(home / "jobs" / "jobs.db")) as conn:
                row = conn.execute("SELECT value FROM meta WHERE key = 'pid'").fetchone()
            if row and json.loads(row[0]):
                return int(json.loads(row[0]))
        except sqlite3.Error:
            pass
        time.sleep(0.5)
    raise SystemExit("the controller did not start")


def counts(sdk: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in sdk.queue(all=True):
        out[row["status"]] = out.get(row["status"], 0) + 1
    return out


def timed(fn: Any, runs: int = 7) -> dict[str, float]:
    """Median and best wall time, and median CPU time of this process (the machine is shared)."""
    walls, cpus = [], []
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return {
        "median_s": round(statistics.median(walls), 3),
        "best_s": round(min(walls), 3),
        "cpu_s": round(statistics.median(cpus), 3),
    }


def pool_part(sdk: Any, args: argparse.Namespace, out: dict[str, Any]) -> None:
    sdk.pool_apply(f"pool:\n  workers: {args.workers}\n", "bench")
    deadline = time.time() + 300
    while time.time() < deadline:
        [pool] = sdk.pool_status(["bench"])
        if [w["status"] for w in pool["worker_list"]].count("READY") == args.workers:
            break
        time.sleep(1)
    pid = controller_pid()
    rss0, _ = proc_sample(pid)
    out["controller_rss_idle_mib"] = round(rss0, 1)

    # one SDK call per job (after one warm-up call, which loads the task modules)
    single = 100
    sdk.launch("run: echo hi\n", pool="bench")
    start = time.perf_counter()
    for _ in range(single):
        sdk.launch("run: echo hi\n", pool="bench")
    out["submit_one_by_one_jobs_per_s"] = round(single / (time.perf_counter() - start), 1)

    # the rest in batches of 1000 copies per call
    remaining, batch = args.jobs - single - 1, 1000
    start = time.perf_counter()
    while remaining > 0:
        n = min(batch, remaining)
        sdk.launch("run: echo hi\n", pool="bench", num_jobs=n)
        remaining -= n
    took = time.perf_counter() - start
    out["submit_batched_jobs_per_s"] = round((args.jobs - single - 1) / took, 1)
    out["jobs_held"] = args.jobs

    out["sdk_queue_all_rows"] = timed(lambda: sdk.queue(all=True))
    out["sdk_queue_default_view"] = timed(lambda: sdk.queue())
    stix = str(Path(sys.executable).parent / "stix")
    for flags in ((), ("--all",)):
        key = "cli_jobs_queue" + "_all_rows" * bool(flags)
        argv = [stix, "jobs", "queue", *flags]
        walls = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run(argv, capture_output=True, check=True)
            walls.append(time.perf_counter() - start)
        out[key] = {"median_s": round(statistics.median(walls), 3), "best_s": round(min(walls), 3)}

    before = counts(sdk).get("SUCCEEDED", 0)
    rss_max, (_, cpu0) = 0.0, proc_sample(pid)
    start = time.time()
    while time.time() - start < args.window:
        rss, _ = proc_sample(pid)
        rss_max = max(rss_max, rss)
        time.sleep(1)
    _, cpu1 = proc_sample(pid)
    elapsed = time.time() - start
    done = counts(sdk)
    out["controller_rss_max_mib"] = round(rss_max, 1)
    out["controller_cpu_percent"] = round(100 * (cpu1 - cpu0) / elapsed, 1)
    out["pool_jobs_finished_per_s"] = round((done.get("SUCCEEDED", 0) - before) / elapsed, 2)
    out["states_after_window"] = done

    start = time.perf_counter()
    sdk.cancel(pool="bench")
    out["cancel_all_s"] = round(time.perf_counter() - start, 2)
    sdk.pool_down(["bench"])


def dedicated_part(sdk: Any, args: argparse.Namespace, out: dict[str, Any]) -> None:
    if not args.dedicated:
        return
    pid = controller_pid()
    start = time.perf_counter()
    ids = sdk.launch("run: echo hi\n", num_jobs=args.dedicated)
    rss_max = 0.0
    deadline = time.time() + 1800
    while time.time() < deadline:
        rows = sdk.queue(job_ids=ids)
        rss_max = max(rss_max, proc_sample(pid)[0])
        if all(r["status"] in ("SUCCEEDED", "FAILED", "CANCELLED") for r in rows):
            break
        time.sleep(1)
    took = time.perf_counter() - start
    out["dedicated_jobs"] = args.dedicated
    out["dedicated_all_done_s"] = round(took, 1)
    out["dedicated_jobs_per_min"] = round(60 * args.dedicated / took, 1)
    out["dedicated_states"] = counts(sdk)
    out["dedicated_controller_rss_max_mib"] = round(rss_max, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--per-worker", type=int, default=4)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--dedicated", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print JSON instead of lines")
    args, _ = parser.parse_known_args()
    home = Path(tempfile.mkdtemp(prefix="stix-bench-jobs-"))
    os.environ["STIX_HOME"] = str(home)
    os.environ["STIX_CONFIG"] = str(home / "config.yaml")
    (home / "config.yaml").write_text(CONFIG.format(per_worker=args.per_worker))
    from stix_jobs import sdk

    out: dict[str, Any] = {}
    try:
        pool_part(sdk, args, out)
        dedicated_part(sdk, args, out)
    finally:
        cleanup()
        shutil.rmtree(home, ignore_errors=True)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    for key, value in out.items():
        print(f"{key}: {value}")


def cleanup() -> None:
    """Stop the controller node, every cluster it made, and remove them."""
    from stix.clouds.local import sandbox
    from stix.sdk import down
    from stix.state.clusters import ClusterStore
    from stix_jobs.client import controller_home, controller_name

    home = controller_home()
    if home is not None:
        sandbox.kill_node(home.parent.parent, grace=0.2)
        for cluster in (home / "local").glob("*") if (home / "local").is_dir() else []:
            for node in cluster.glob("node-*"):
                sandbox.kill_node(node, grace=0.2)
    if ClusterStore().get(controller_name()) is not None:
        down(controller_name(), purge=True)


if __name__ == "__main__":
    main()
