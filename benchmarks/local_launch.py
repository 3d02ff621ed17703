"""Wall time of the main job on the local cloud: launch, exec and a 1000-job queue.

    python benchmarks/local_launch.py [--runs 5] [--jobs 1000]

Each figure is measured from process start to exit, in a throw-away ``$STIX_HOME``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def median_ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    stix = str(Path(sys.executable).parent / "stix")
    home = tempfile.mkdtemp(prefix="stix-bench-")
    env = dict(os.environ, STIX_HOME=home, STIX_QUIET="1")
    results: dict[str, float] = {}
    try:
        results["bash -c 'echo hi'"] = median_ms(
            [timed(["bash", "-c", "echo hi"], env) for _ in range(args.runs)]
        )
        timed([stix, "launch", "-y", "-c", "warm", "echo hi"], env)  # build the agent once
        launches = []
        for i in range(args.runs):
            launches.append(timed([stix, "launch", "-y", "-c", f"b{i}", "echo hi"], env))
            subprocess.run([stix, "down", "-y", f"b{i}"], env=env, capture_output=True)
        results["stix launch -y (new cluster)"] = median_ms(launches)
        results["stix launch -y (UP cluster)"] = median_ms(
            [timed([stix, "launch", "-y", "-c", "warm", "echo hi"], env) for _ in range(args.runs)]
        )
        results["stix exec (UP cluster)"] = median_ms(
            [timed([stix, "exec", "warm", "echo hi"], env) for _ in range(args.runs)]
        )
        results.update(queue_figures(home, args.jobs))
    finally:
        subprocess.run([stix, "down", "-a", "-y"], env=env, capture_output=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print("| measurement | value |\n| --- | ---: |")
    for key, value in results.items():
        print(f"| {key} | {value} |")


def queue_figures(home: str, count: int) -> dict[str, float]:
    """Submit ``count`` tiny jobs in one call, then wait until all have finished."""
    os.environ["STIX_HOME"] = home
    os.environ["STIX_QUIET"] = "1"
    from stix import sdk
    from stix.task import Task

    tasks = [Task(name=f"t{i}", run="true") for i in range(count)]
    start = time.perf_counter()
    ids = sdk.submit(tasks, "warm")
    submitted = time.perf_counter() - start
    last = ids[-1]
    while sdk.job_status("warm", [last])[last] not in ("SUCCEEDED", "FAILED", "CANCELLED"):
        time.sleep(0.5)
    finished = time.perf_counter() - start
    one_by_one = []
    for _ in range(20):
        t0 = time.perf_counter()
        sdk.submit([Task(run="true")], "warm")
        one_by_one.append(time.perf_counter() - t0)
    return {
        f"{count} jobs: submit (s)": round(submitted, 3),
        f"{count} jobs: submitted per s": round(count / submitted, 1),
        f"{count} jobs: all finished (s)": round(finished, 2),
        "one job per SDK call: submitted per s": round(1 / statistics.median(one_by_one), 1),
    }


if __name__ == "__main__":
    main()
