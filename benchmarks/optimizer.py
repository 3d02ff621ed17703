"""Optimizer speed on the full public catalog snapshot in ``../shared/catalogs/v8``.

Imports the snapshot into a temporary ``$STIX_HOME`` (every cloud in it enabled), then
reports median wall times of: (a) one task ``A100:8``, (b) one task ``cpus: 4+``, (c) a
10-task chain mixing GPU and CPU tasks, each in process through ``stix.optimizer.optimize``
(opening the catalog cache included), and (d) a cold ``stix launch --dryrun`` process.

Run from the repository root:  python benchmarks/optimizer.py [--runs N] [--catalog DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CATALOG = REPO / ".." / "shared" / "catalogs" / "v8"

CHAIN = [
    {"cpus": "4+"},
    {"accelerators": "A100:8"},
    {"accelerators": "T4:1"},
    {"cpus": "8+", "memory": "32+"},
    {"accelerators": "H100:8", "use_spot": True},
    {"accelerators": "V100:1"},
    {"accelerators": "L4:1"},
    {"cpus": "16+"},
    {"accelerators": "A10:1"},
    {"cpus": "2+"},
]


def median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up: first use builds nothing (the cache exists), but fills OS caches
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG)
    args = parser.parse_args()
    if not (args.catalog / "gcp" / "vms.csv").is_file():
        sys.exit(f"catalog snapshot not found at {args.catalog}")
    home = Path(tempfile.mkdtemp(prefix="stix-bench-"))
    os.environ["STIX_HOME"] = str(home)
    os.environ["STIX_CONFIG"] = str(home / "config.yaml")
    os.environ["STIX_PROJECT_CONFIG"] = str(home / "none.yaml")
    try:
        run(args, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run(args: argparse.Namespace, home: Path) -> None:
    from stix.catalog.files import import_skypilot
    from stix.catalog.query import Catalog
    from stix.optimizer import optimize
    from stix.plugins import Registry
    from stix.task import Dag, Task

    start = time.perf_counter()
    clouds = sorted(import_skypilot(args.catalog))
    imported = time.perf_counter() - start
    start = time.perf_counter()
    cat = Catalog()
    rows = sum(cat.row_counts().values())
    cat.close()
    built = time.perf_counter() - start
    print(
        f"catalog: {', '.join(clouds)}; {rows} offers; import {imported:.2f} s, cache build {built:.2f} s"
    )

    # No cloud plugins: every catalog cloud is considered (rows shown as not launchable),
    # so nothing but catalog work is measured.
    registry = Registry(entry_points=[])

    def plan(target: object) -> None:
        optimize(target, registry=registry, allowed_clouds=clouds)

    def expand(target: object) -> None:
        # failover lists are built when first read (provisioning reads the chosen task's)
        for tp in optimize(target, registry=registry, allowed_clouds=clouds).tasks:
            assert tp.failover is not None

    a100 = Task.from_yaml_config({"resources": {"accelerators": "A100:8"}})
    cpus = Task.from_yaml_config({"resources": {"cpus": "4+"}})
    chain = Dag(
        tasks=[
            Task.from_yaml_config({"name": f"t{i}", "resources": r, "outputs": {f"s3://b/{i}": 50}})
            for i, r in enumerate(CHAIN)
        ]
    )
    yaml_path = home / "a100.yaml"
    yaml_path.write_text("resources:\n  accelerators: A100:8\nrun: echo hi\n")
    stix = shutil.which("stix") or str(Path(sys.executable).parent / "stix")
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cold = [stix, "launch", "--dryrun", str(yaml_path)]
    subprocess.run(cold, env=env, check=True, stdout=subprocess.DEVNULL)

    def process() -> None:
        subprocess.run(
            cold, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    python = [sys.executable, "-c", "pass"]
    cases = [
        ("(a) one task A100:8, in process", lambda: plan(a100), 20.0),
        ("(b) one task cpus: 4+, in process", lambda: plan(cpus), 20.0),
        ("(c) 10-task chain, GPU+CPU, in process", lambda: plan(chain), 20.0),
        ("    (c) plus every task's failover list", lambda: expand(chain), None),
        ("(d) cold `stix launch --dryrun` process", process, 300.0),
        (
            "    for scale: `python -c pass` process",
            lambda: subprocess.run(python, env=env, check=True),
            None,
        ),
    ]
    print(f"\nmedian of {args.runs} runs\n")
    print(f"| {'case':<42} | {'median ms':>9} | {'target ms':>9} |")
    print(f"| {'-' * 42} | {'-' * 8}: | {'-' * 8}: |")
    for label, fn, target in cases:
        value = median_ms(fn, args.runs)
        goal = f"{target:.0f}" if target else ""
        print(f"| {label:<42} | {value:>9.1f} | {goal:>9} |")


if __name__ == "__main__":
    main()
