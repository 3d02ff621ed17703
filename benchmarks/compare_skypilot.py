"""Plan prices of STIX against SkyPilot 0.14.1 on the real task files, per set of clouds.

Both optimizers read the same public catalog snapshot (``../shared/catalogs/v8``) and plan
every YAML of ``../shared/compat/skypilot`` (tasks, pipelines, services) with the same
clouds enabled. SkyPilot never becomes a dependency: its side runs in the interpreter given
by ``--sky-python`` (a venv with ``skypilot==0.14.1``), as a subprocess that re-runs this
file with ``--sky-side``. That subprocess gets a throw-away ``HOME`` whose ``~/.sky``
catalog folder holds a copy of the snapshot, refuses every network connection, and is told
which clouds are enabled instead of running ``sky check``. STIX runs in this interpreter
with the snapshot imported into a throw-away ``$STIX_HOME``, ``STIX_PLUGINS`` and
``allowed_clouds`` set to the cloud set.

A file's price is the sum over its tasks of the chosen offer's hourly price times the
task's nodes. Results per (cloud set, file): STIX cheaper, equal, dearer, or only one side
plans.

Run from the repository root:
  python benchmarks/compare_skypilot.py --sky-python /path/to/skypilot-venv/bin/python \
      [--sets lambda vast lambda,vast lambda,vast,gcp,azure] [--json out.json] \
      [--reference tests/integration/data/skypilot_plans.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared"
DEFAULT_SETS = ("lambda", "vast", "lambda,vast", "lambda,vast,gcp,azure")
SKY_TIMEOUT_SECONDS = 120
# prices are compared to a hundredth of a cent
EPSILON = 1e-4


def overrides(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """``envs`` and ``secrets`` the file leaves empty, filled with a dummy value (both sides)."""
    import yaml

    envs: dict[str, str] = {}
    secrets: dict[str, str] = {}
    try:
        docs = list(yaml.safe_load_all(path.read_text()))
    except yaml.YAMLError:
        return envs, secrets
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        for field, out in (("envs", envs), ("secrets", secrets)):
            value = doc.get(field)
            if isinstance(value, dict):
                out.update({str(k): "dummy" for k, v in value.items() if v is None})
    return envs, secrets


def task_files(compat: Path) -> list[str]:
    return sorted(p.relative_to(compat).as_posix() for p in compat.rglob("*.y*ml"))


# -- SkyPilot's side (runs in the SkyPilot interpreter; imports nothing of STIX) ---------------


def _offline() -> None:
    import socket

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise OSError("network disabled for the comparison")

    connect = socket.socket.connect

    def local_only(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            refuse()
        return connect(self, address)

    socket.create_connection = refuse
    socket.socket.connect = local_only  # type: ignore[method-assign,assignment]


class _Timeout(Exception):
    pass


def sky_side(args: argparse.Namespace) -> None:
    """Plan every file with SkyPilot for every cloud set; write ``{set: {file: result}}``."""
    import signal

    home = Path(tempfile.mkdtemp(prefix="sky-compare-"))
    os.environ["HOME"] = str(home)
    os.environ.pop("SKY_RUNTIME_DIR", None)
    shutil.copytree(args.catalog, home / ".sky" / "catalogs" / "v8")
    _offline()
    from sky import check as sky_check
    from sky import optimizer
    from sky.utils import dag_utils, registry

    enabled: list[Any] = []
    sky_check.get_cached_enabled_clouds_or_refresh = lambda *a, **k: list(enabled)
    sky_check.check_capability = lambda *a, **k: None

    def alarm(signum: int, frame: Any) -> None:
        raise _Timeout

    signal.signal(signal.SIGALRM, alarm)
    out: dict[str, dict[str, Any]] = {}
    for cloud_set in args.sets:
        enabled[:] = [registry.CLOUD_REGISTRY.from_str(c) for c in cloud_set.split(",")]
        results = out.setdefault(cloud_set, {})
        for name in args.files:
            path = args.compat / name
            envs, secrets = overrides(path)
            signal.alarm(SKY_TIMEOUT_SECONDS)
            try:
                dag = dag_utils.load_chain_dag_from_yaml(
                    str(path),
                    env_overrides=list(envs.items()),
                    secret_overrides=list(secrets.items()),
                )
                optimizer.Optimizer.optimize(dag, quiet=True)
                tasks = []
                for task in dag.tasks:
                    best = task.best_resources
                    tasks.append(
                        {
                            "cloud": str(best.cloud).lower(),
                            "instance_type": best.instance_type,
                            "region": best.region,
                            "accelerators": best.accelerators,
                            "use_spot": bool(best.use_spot),
                            "num_nodes": task.num_nodes,
                            "price": round(best.get_cost(3600) * task.num_nodes, 6),
                        }
                    )
                results[name] = {"tasks": tasks}
            except _Timeout:
                results[name] = {"error": f"no plan within {SKY_TIMEOUT_SECONDS} s"}
            except BaseException as exc:  # SkyPilot exits (SystemExit) on some inputs
                text = " ".join(str(exc).split()) or type(exc).__name__
                results[name] = {"error": f"{type(exc).__name__}: {text[:300]}"}
            finally:
                signal.alarm(0)
    Path(args.out).write_text(json.dumps(out, indent=1, sort_keys=True))
    shutil.rmtree(home, ignore_errors=True)


def run_skypilot(
    sky_python: str, catalog: Path, compat: Path, sets: list[str], files: list[str], log: Path
) -> dict[str, dict[str, Any]]:
    """Run :func:`sky_side` in SkyPilot's interpreter, one process per cloud set, two at a time."""
    with tempfile.TemporaryDirectory(prefix="sky-compare-") as tmp:
        procs = []
        running: list[subprocess.Popen[bytes]] = []
        for i, cloud_set in enumerate(sets):
            out = Path(tmp) / f"{i}.json"
            argv = [
                sky_python, str(Path(__file__).resolve()), "--sky-side", "--catalog", str(catalog),
                "--compat", str(compat), "--out", str(out), "--sets", cloud_set, "--files", *files,
            ]  # fmt: skip
            while len([p for p in running if p.poll() is None]) >= 2:
                time.sleep(0.5)
            with log.open("ab") as handle:
                proc = subprocess.Popen(argv, stdout=handle, stderr=handle, cwd=tmp)
            running.append(proc)
            procs.append((proc, out))
        merged: dict[str, dict[str, Any]] = {}
        for proc, out in procs:
            if proc.wait() != 0 or not out.is_file():
                sys.exit(f"SkyPilot's side failed; see {log}")
            merged.update(json.loads(out.read_text()))
    return merged


# -- STIX's side -------------------------------------------------------------------------------


def run_stix(
    catalog: Path, compat: Path, sets: list[str], files: list[str]
) -> dict[str, dict[str, Any]]:
    """Plan every file with STIX's optimizer (the path ``stix launch --dryrun`` takes)."""
    home = Path(tempfile.mkdtemp(prefix="stix-compare-"))
    saved = {
        k: os.environ.get(k)
        for k in ("STIX_HOME", "STIX_CONFIG", "STIX_PROJECT_CONFIG", "STIX_PLUGINS")
    }
    os.environ["STIX_HOME"] = str(home)
    os.environ["STIX_PROJECT_CONFIG"] = str(home / "none.yaml")
    try:
        from stix.catalog.files import import_skypilot

        import_skypilot(catalog)
        out: dict[str, dict[str, Any]] = {}
        for cloud_set in sets:
            results = out.setdefault(cloud_set, {})
            for name in files:
                results[name] = plan_with_stix(compat / name, cloud_set.split(","), home)
        return out
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(home, ignore_errors=True)


def plan_with_stix(path: Path, clouds: list[str], home: Path) -> dict[str, Any]:
    """One file planned by STIX with only ``clouds`` installed and allowed (``$STIX_HOME`` set)."""
    from stix.cli.launch import plan_dag
    from stix.errors import StixError
    from stix.task.loader import load_dag

    config = home / f"config-{'-'.join(clouds)}.yaml"
    config.write_text(f"allowed_clouds: [{', '.join(clouds)}]\n")
    os.environ["STIX_CONFIG"] = str(config)
    os.environ["STIX_PLUGINS"] = ",".join(clouds)
    envs, secrets = overrides(path)
    try:
        plan = plan_dag(load_dag(path, env_overrides=dict(envs), secret_overrides=dict(secrets)))
    except StixError as exc:
        return {"error": str(exc).splitlines()[0][:300]}
    return {
        "tasks": [
            {
                "cloud": tp.chosen.cloud,
                "instance_type": tp.chosen.instance_type,
                "region": tp.chosen.region,
                "accelerators": tp.chosen.accelerators,
                "use_spot": tp.chosen.use_spot,
                "num_nodes": tp.chosen.num_nodes,
                "price": round(tp.chosen.total_hourly_cost, 6),
                "note": tp.chosen.hint,
            }
            for tp in plan.tasks
        ]
    }


# -- comparison --------------------------------------------------------------------------------


def total(result: dict[str, Any]) -> float | None:
    tasks = result.get("tasks")
    return None if tasks is None else round(sum(t["price"] for t in tasks), 6)


def verdict(stix: dict[str, Any], sky: dict[str, Any]) -> str:
    a, b = total(stix), total(sky)
    if a is None and b is None:
        return "neither"
    if a is None:
        return "only SkyPilot"
    if b is None:
        return "only STIX"
    if a < b - EPSILON:
        return "cheaper"
    if a > b + EPSILON:
        return "dearer"
    return "equal"


KINDS = ("cheaper", "equal", "dearer", "only SkyPilot", "only STIX", "neither")


def describe(result: dict[str, Any]) -> str:
    if "tasks" not in result:
        return f"no plan ({result['error'][:90]})"
    parts = []
    for t in result["tasks"]:
        accs = ",".join(f"{k}:{v}" for k, v in (t["accelerators"] or {}).items())
        spot = " spot" if t["use_spot"] else ""
        nodes = f" x{t['num_nodes']}" if t["num_nodes"] > 1 else ""
        parts.append(f"{t['cloud']} {t['instance_type']} {accs}{spot}{nodes} ${t['price']:.4f}")
    return "; ".join(parts)


def report(stix: dict[str, dict[str, Any]], sky: dict[str, dict[str, Any]], sets: list[str]) -> str:
    lines = ["| cloud set | " + " | ".join(KINDS) + " |", "| --- |" + " ---: |" * len(KINDS)]
    details = []
    for cloud_set in sets:
        counts = dict.fromkeys(KINDS, 0)
        for name in sorted(sky[cloud_set]):
            kind = verdict(stix[cloud_set][name], sky[cloud_set][name])
            counts[kind] += 1
            if kind not in ("equal", "neither"):
                details.append(
                    f"- {{{cloud_set}}} {name}: {kind}\n"
                    f"  - STIX: {describe(stix[cloud_set][name])}\n"
                    f"  - SkyPilot: {describe(sky[cloud_set][name])}"
                )
        lines.append(f"| {{{cloud_set}}} | " + " | ".join(str(counts[k]) for k in KINDS) + " |")
    return "\n".join([*lines, "", *details])


def reference(sky: dict[str, dict[str, Any]], command: str) -> dict[str, Any]:
    """SkyPilot's plan price per (cloud set, file) it could plan, for the regression test."""
    return {
        "about": (
            "Hourly plan prices SkyPilot 0.14.1 chose on ../shared/catalogs/v8 for the files of "
            "../shared/compat/skypilot (sum over tasks of price x nodes), with only the cloud set "
            "enabled; facts about SkyPilot's output, produced by: " + command
        ),
        "plans": {
            cloud_set: {
                name: {"price": total(r), "plan": describe(r)}
                for name, r in sorted(results.items())
                if total(r) is not None
            }
            for cloud_set, results in sky.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sky-python", help="python of a venv with skypilot==0.14.1")
    parser.add_argument(
        "--sky-plans", type=Path, help="reuse SkyPilot's plans from an earlier --json file"
    )
    parser.add_argument("--catalog", type=Path, default=SHARED / "catalogs" / "v8")
    parser.add_argument("--compat", type=Path, default=SHARED / "compat" / "skypilot")
    parser.add_argument(
        "--sets", nargs="+", default=list(DEFAULT_SETS), help="comma-separated clouds"
    )
    parser.add_argument("--json", type=Path, help="write both sides' plans here")
    parser.add_argument("--reference", type=Path, help="write SkyPilot's plan prices here")
    parser.add_argument("--sky-side", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--files", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sky_side:
        sky_side(args)
        return
    if not args.sky_python and not args.sky_plans:
        parser.error("--sky-python (or --sky-plans) is required")
    if not (args.catalog / "gcp" / "vms.csv").is_file() or not args.compat.is_dir():
        sys.exit(f"catalog snapshot or task files not found under {SHARED}")
    files = args.files or task_files(args.compat)
    log = Path(tempfile.gettempdir()) / "compare_skypilot.log"
    log.write_text("")
    start = time.perf_counter()
    if args.sky_plans:
        sky = json.loads(args.sky_plans.read_text())["skypilot"]
        sky = {s: {f: sky[s][f] for f in files} for s in args.sets}
    else:
        sky = run_skypilot(args.sky_python, args.catalog, args.compat, args.sets, files, log)
    sky_seconds = time.perf_counter() - start
    start = time.perf_counter()
    stix = run_stix(args.catalog, args.compat, args.sets, files)
    stix_seconds = time.perf_counter() - start
    print(report(stix, sky, args.sets))
    print(
        f"\n{len(files)} files x {len(args.sets)} cloud sets; SkyPilot {sky_seconds:.0f} s "
        f"(two processes at a time), STIX {stix_seconds:.1f} s; SkyPilot's log: {log}"
    )
    if args.json:
        args.json.write_text(json.dumps({"stix": stix, "skypilot": sky}, indent=1, sort_keys=True))
    if args.reference:
        command = "python benchmarks/compare_skypilot.py --sky-python <venv>/bin/python"
        if args.sets != list(DEFAULT_SETS):
            command += " --sets " + " ".join(args.sets)
        command += f" --reference {args.reference}"
        args.reference.write_text(
            json.dumps(reference(sky, command), indent=1, sort_keys=True) + "\n"
        )


if __name__ == "__main__":
    main()
