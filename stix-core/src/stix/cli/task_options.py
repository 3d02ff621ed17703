"""The task option block shared by ``launch``, ``exec`` and ``jobs launch``.

``task_options`` adds the flags to a click command; ``load_entrypoint`` turns
the ENTRYPOINT words plus those flags into a ``Dag`` with the overrides applied.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from stix.task import Dag, Task

F = TypeVar("F", bound=Callable[..., Any])

DISK_TIERS = ("low", "medium", "high", "ultra", "best", "none")
NETWORK_TIERS = ("standard", "best")

# Every keyword argument ``task_options`` adds, in the order of the flags.
TASK_OPTION_NAMES = (
    "workdir", "infra", "cloud", "region", "zone", "num_nodes", "cpus", "memory", "disk_size",
    "disk_tier", "network_tier", "use_spot", "image_id", "env_file", "env", "secret_file",
    "secret", "local_disk", "gpus", "instance_type", "ports", "name",
)  # fmt: skip


def task_options(func: F) -> F:
    """Decorate a click command with SkyPilot's task option block."""
    options = [
        click.option("--workdir", help="Local folder synced to the nodes (overrides YAML)."),
        click.option("--infra", help="cloud[/region[/zone]], e.g. gcp/us-central1; * for any."),
        click.option("--cloud", hidden=True, help="Legacy: cloud ('none' clears)."),
        click.option("--region", hidden=True, help="Legacy: region ('none' clears)."),
        click.option("--zone", hidden=True, help="Legacy: zone ('none' clears)."),
        click.option("--num-nodes", type=int, help="Number of nodes."),
        click.option("--cpus", help="vCPUs per node, e.g. 4 or 4+."),
        click.option("--memory", help="Memory per node in GB, e.g. 32 or 32+."),
        click.option("--disk-size", type=int, help="OS disk size in GB."),
        click.option("--disk-tier", type=click.Choice(DISK_TIERS, case_sensitive=False)),
        click.option("--network-tier", type=click.Choice(NETWORK_TIERS, case_sensitive=False)),
        click.option("--use-spot/--no-use-spot", default=None, help="Use spot instances."),
        click.option("--image-id", help="Cloud image or docker:<image>."),
        click.option("--env-file", type=click.Path(dir_okay=False), help="KEY=VALUE lines."),
        click.option("--env", multiple=True, metavar="K[=V]", help="Env var (K alone copies it)."),
        click.option("--secret-file", type=click.Path(dir_okay=False), help="KEY=VALUE lines."),
        click.option(
            "--secret", multiple=True, metavar="K[=V]", help="Secret (K alone copies it)."
        ),
        click.option("--local-disk", help="Instance local disk, e.g. nvme:1000+."),
        click.option("--gpus", help="Accelerators, e.g. A100:8 (replaces the YAML's)."),
        click.option("--instance-type", "-t", help="Exact instance type."),
        click.option("--ports", multiple=True, help="Ports to open (repeatable)."),
        click.option("--name", "-n", help="Task name."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _read_pairs_file(path: str, flag: str) -> dict[str, str | None]:
    from stix.errors import StixError
    from stix.inputs import InputRefused, read_text

    out: dict[str, str | None] = {}
    try:
        lines = read_text(path).splitlines()
    except InputRefused as exc:
        raise StixError(f"{flag} {path}: {exc.reason}") from None
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].strip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise StixError(f"{flag} {path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def parse_pairs(items: tuple[str, ...] | None, flag: str) -> dict[str, str | None]:
    """``K=V`` and ``K`` flag values; a bare ``K`` maps to ``None``, which the task
    loader fills from this shell's environment (and reports when unset)."""
    from stix.errors import StixError

    out: dict[str, str | None] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not key:
            raise StixError(f"{flag} {item!r}: expected KEY or KEY=VALUE")
        out[key] = value if sep else None
    return out


def _overrides(
    opts: Mapping[str, Any], file_key: str, list_key: str, flag: str
) -> dict[str, str | None] | None:
    merged: dict[str, str | None] = {}
    if opts.get(file_key):
        merged.update(_read_pairs_file(opts[file_key], f"--{file_key.replace('_', '-')}"))
    merged.update(parse_pairs(opts.get(list_key), flag))
    return merged or None


def _none(value: str | None) -> str | None:
    return None if value is None or value.lower() == "none" else value


def _resource_overrides(opts: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """YAML-keyed resource overrides and the keys to clear in any_of/ordered entries."""
    res: dict[str, Any] = {}
    for key in ("cpus", "memory", "disk_size", "disk_tier", "network_tier", "image_id",
                "local_disk", "instance_type"):  # fmt: skip
        if opts.get(key) is not None:
            res[key] = opts[key]
    if res.get("disk_tier") == "none":
        res["disk_tier"] = None
    if opts.get("use_spot") is not None:
        res["use_spot"] = opts["use_spot"]
    if opts.get("gpus") is not None:
        res["accelerators"] = opts["gpus"]
    if opts.get("ports"):
        res["ports"] = list(opts["ports"])
    clear = set(res)
    if "accelerators" in res:
        clear.add("gpus")
    return res, clear


def _apply_infra(res: dict[str, Any], opts: Mapping[str, Any]) -> bool:
    """Fold --infra/--cloud/--region/--zone into ``res``; True when anything changed."""
    from stix.task import values

    if opts.get("infra") is not None:
        both = [k for k in ("cloud", "region", "zone") if opts.get(k) is not None]
        if both:
            from stix.errors import StixError

            raise StixError(
                f"--{both[0]}: cannot be combined with --infra",
                hint=f"put it in --infra, e.g. --infra {opts['infra'].split('/')[0]}/REGION",
            )
        for key in ("cloud", "region", "zone"):
            res.pop(key, None)
        res["infra"] = _none(opts["infra"])
        return True
    legacy = {k: opts.get(k) for k in ("cloud", "region", "zone") if opts.get(k) is not None}
    if not legacy:
        return False
    current = res.pop("infra", None)
    cloud, region, zone = values.parse_infra(current) if current else (None, None, None)
    cloud = res.pop("cloud", cloud)
    region = res.pop("region", region)
    zone = res.pop("zone", zone)
    if "cloud" in legacy:
        cloud = _none(legacy["cloud"])
    if "region" in legacy:
        region = _none(legacy["region"])
    if "zone" in legacy:
        zone = _none(legacy["zone"])
    res["infra"] = values.format_infra(cloud, region, zone)
    return True


def apply_overrides(task: Task, opts: Mapping[str, Any]) -> Task:
    """``task`` with the command-line overrides of ``opts`` applied (re-validated)."""
    from stix.task import Task

    res_over, clear = _resource_overrides(opts)
    top: dict[str, Any] = {}
    if opts.get("num_nodes") is not None:
        top["num_nodes"] = opts["num_nodes"]
    if opts.get("name") is not None:
        top["name"] = opts["name"]
    if opts.get("workdir") is not None:
        top["workdir"] = opts["workdir"]
    infra_given = any(opts.get(k) is not None for k in ("infra", "cloud", "region", "zone"))
    if not res_over and not top and not infra_given:
        return task
    config = task.to_yaml_config(reveal_secrets=True)
    config.update(top)
    res = dict(config.get("resources") or {})
    where = ("infra", "cloud", "region", "zone")
    entries: list[dict[str, Any]] = []
    for key in ("any_of", "ordered"):
        if key in res:
            res[key] = [{k: v for k, v in e.items() if k not in clear} for e in res[key]]
            entries.extend(res[key])
    if "accelerators" in res_over:
        res.pop("gpus", None)
    res.update(res_over)
    if opts.get("infra") is not None:
        for entry in entries:  # --infra replaces every candidate's placement
            for key in where:
                entry.pop(key, None)
        _apply_infra(res, opts)
    elif infra_given:
        placed = [m for m in (res, *entries) if any(k in m for k in where)] or [res]
        for mapping in placed:
            _apply_infra(mapping, opts)
            if mapping.get("infra") is None:
                mapping.pop("infra", None)
    config["resources"] = {k: v for k, v in res.items() if v is not None}
    return Task.from_yaml_config(config)


def _looks_like_yaml(text: str) -> bool:
    return text.endswith((".yaml", ".yml")) and "\n" not in text


def load_entrypoint(
    entrypoint: tuple[str, ...] | str | None, opts: Mapping[str, Any], *, yes: bool = False
) -> Dag:
    """The DAG of an ENTRYPOINT (YAML path, or an inline command) with ``opts`` applied.

    :param entrypoint: the command's positional words.
    :param opts: the keyword arguments from :func:`task_options`.
    :param yes: never ask (a missing ``*.yaml`` path is then an error).
    :raises stix.errors.TaskError: the YAML is invalid.
    """
    import attrs

    from stix.errors import TaskError
    from stix.task import Dag, Task
    from stix.task.loader import load_dag

    words = (entrypoint,) if isinstance(entrypoint, str) else tuple(entrypoint or ())
    text = " ".join(words).strip()
    if words and not text:
        from stix.errors import StixError

        raise StixError(
            "ENTRYPOINT: an empty command was given",
            hint="pass a task YAML or a shell command, or no ENTRYPOINT at all",
        )
    env = _overrides(opts, "env_file", "env", "--env")
    secret = _overrides(opts, "secret_file", "secret", "--secret")
    dag: Dag
    path = Path(text).expanduser() if text else None
    if path is not None and (path.is_file() or (path.exists() and not path.is_dir())):
        # a FIFO or a device is refused by the bounded reader, never run as a command
        dag = load_dag(str(path), env_overrides=env, secret_overrides=secret)
    else:
        if text and _looks_like_yaml(text):
            ask = not yes and sys.stdin.isatty()
            if not ask or not click.confirm(
                f"{text} is not a file; run it as a command?", default=False
            ):
                raise TaskError("file not found", file=text)
        config: dict[str, Any] = {"run": text} if text else {}
        task = Task.from_yaml_config(config, env_overrides=env, secret_overrides=secret)
        dag = Dag(tasks=[task])
    tasks = [apply_overrides(t, opts) for t in dag.tasks]
    return attrs.evolve(dag, tasks=tasks)


__all__ = [
    "TASK_OPTION_NAMES",
    "apply_overrides",
    "load_entrypoint",
    "parse_pairs",
    "task_options",
]
