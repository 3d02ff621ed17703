"""Wall time of CLI start-up: `--help`, `plugins`, `validate`, `status`, `launch --dryrun`, the
jobs and serve listings, against `python -c pass`.

Run from the repository root with stix installed:  python benchmarks/cli_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def median_ms(argv: list[str], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    stix = shutil.which("stix") or str(Path(sys.executable).parent / "stix")
    cases = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("stix --version", [stix, "--version"]),
        ("stix --help", [stix, "--help"]),
        ("stix plugins", [stix, "plugins"]),
        (
            "stix validate examples/minimal.yaml",
            [stix, "validate", str(REPO / "examples" / "minimal.yaml")],
        ),
        ("stix status (no clusters)", [stix, "status"]),
        (
            "stix launch --dryrun examples/minimal.yaml",
            [stix, "launch", "--dryrun", "-y", str(REPO / "examples" / "minimal.yaml")],
        ),
        ("stix jobs queue (no controller)", [stix, "jobs", "queue"]),
        ("stix serve status (no controller)", [stix, "serve", "status"]),
    ]
    base = None
    print(f"{'command':40} {'median ms':>10} {'min ms':>8} {'x pass':>7}")
    for label, argv in cases:
        med, low = median_ms(argv, args.runs)
        base = base or med
        print(f"{label:40} {med:10.1f} {low:8.1f} {med / base:7.1f}")


if __name__ == "__main__":
    main()
