"""Launch 1-, 4- and 8-node clusters on an ``ssh`` pool of real sshd nodes and time each.

Each launch = allocate hosts from the pool, ship and start the agent, sync the workdir,
run ``setup: echo ok`` and a job on every node, stream its log; then ``stix down``.
Needs root (the node harness in tests/harness makes network namespaces and users) and
Debian's openssh-server, openssh-client and rsync. ``stix`` is run through the interpreter
that runs this script (``python -m stix``), so use the Python that has STIX installed.

    sudo .venv/bin/python benchmarks/ssh_multinode.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness.sshnodes import HarnessUnavailable, SshNodes  # noqa: E402

# The stix of this interpreter, not whichever one PATH finds first.
STIX = [sys.executable, "-m", "stix"]
INSTALL = "apt-get install openssh-server openssh-client rsync"


def start_nodes(count: int) -> SshNodes:
    """Start ``count`` harness nodes, or exit with one line saying what is missing."""
    try:
        return SshNodes(count).start()
    except HarnessUnavailable as exc:
        sys.exit(f"ssh_multinode: {exc}; needs root and: {INSTALL}")
    except FileNotFoundError as exc:  # ssh-keygen, ip or useradd absent
        sys.exit(f"ssh_multinode: {exc.filename or exc} not found; install: {INSTALL}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="1,4,8")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    root = Path(tempfile.mkdtemp(prefix="stix-bench-ssh-"))
    env = dict(os.environ, HOME=str(root), STIX_HOME=str(root / ".stix"))
    (root / ".stix").mkdir()
    (root / "wd").mkdir()
    (root / "wd" / "data.txt").write_text("x" * 1000)
    harness = start_nodes(max(sizes))
    try:
        hosts = [{"ip": n.ip, "port": n.port, "user": n.user} for n in harness.nodes]
        pools = {"bench": {"identity_file": str(harness.key), "hosts": hosts}}
        (root / ".stix" / "ssh_node_pools.yaml").write_text(yaml.safe_dump(pools))
        print(f"harness: {len(harness.nodes)} nodes ({harness.mode}), {os.cpu_count()} CPUs here")
        tasks = {}
        for size in sizes:
            task = root / f"t{size}.yaml"
            doc = {
                "num_nodes": size,
                "workdir": str(root / "wd"),
                "setup": "echo ok",
                "run": "echo rank $SKYPILOT_NODE_RANK",
            }
            task.write_text(yaml.safe_dump(doc))
            tasks[size] = task
        # Sizes take turns in every round, so load from other work hits them alike.
        times: dict[int, list[float]] = {size: [] for size in sizes}
        for i in range(args.repeat):
            for size in sizes:
                name = f"b{size}-{i}"
                start = time.perf_counter()
                proc = subprocess.run(
                    [*STIX, "launch", "-y", "--infra", "ssh/bench", "-c", name, str(tasks[size])],
                    env=env,
                    capture_output=True,
                    text=True,
                )
                took = time.perf_counter() - start
                if proc.returncode != 0 or proc.stdout.count("rank ") != size:
                    sys.exit(f"launch of {size} nodes failed:\n{proc.stdout}\n{proc.stderr}")
                times[size].append(took)
                subprocess.run(
                    [*STIX, "down", "-y", name], env=env, check=True, capture_output=True
                )
        rows = [(size, statistics.median(times[size]), min(times[size])) for size in sizes]
        base = rows[0][1]
        print("\n| nodes | launch median (s) | best (s) | vs 1 node |")
        print("| --- | --- | --- | --- |")
        for size, median, best in rows:
            print(f"| {size} | {median:.2f} | {best:.2f} | {median / base:.2f}x |")
    finally:
        harness.teardown()


if __name__ == "__main__":
    main()
