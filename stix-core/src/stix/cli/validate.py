"""``stix validate``: check task, pipeline and service YAML files without launching anything."""

from __future__ import annotations

import json
from typing import Any

import click


@click.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--json", "as_json", is_flag=True, help="Print the normalised tasks as JSON.")
@click.option(
    "--env",
    "envs",
    multiple=True,
    metavar="K[=V]",
    help="Set an env var (K alone: copy it from here).",
)
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    metavar="K[=V]",
    help="Set a secret (K alone: copy it from here).",
)
def validate(
    files: tuple[str, ...], as_json: bool, envs: tuple[str, ...], secrets: tuple[str, ...]
) -> None:
    """Check YAML files: fields, value forms, pipelines and service specs.

    Prints "ok: FILE" for each valid file, or one "Error: FILE:LINE: FIELD: problem"
    line per invalid file on stderr (exit code 1 after checking every file).

    With --json, prints a JSON list with one entry per file, either
    {"file", "ok": true, "name", "execution", "tasks": [task, ...]} (tasks in their
    normalised YAML form, secrets redacted; job groups add primary_tasks,
    termination_delay, inter_connection) or
    {"file", "ok": false, "error": {"message", "field", "line"}}.

    \b
    Examples:
        stix validate task.yaml
        stix validate --env HF_TOKEN pipeline.yaml service.yaml
        stix validate --json task.yaml | jq '.[0].tasks[0].resources'
    """
    from stix.cli.task_options import parse_pairs
    from stix.errors import StixError, TaskError
    from stix.policy import apply_policy
    from stix.storage.confine import check_destinations
    from stix.task.loader import load_dag

    env_overrides = parse_pairs(envs, "--env")
    secret_overrides = parse_pairs(secrets, "--secret")
    results: list[dict[str, Any]] = []
    failed = False
    for file in files:
        try:
            dag = load_dag(file, env_overrides=env_overrides, secret_overrides=secret_overrides)
        except TaskError as exc:
            failed = True
            where = exc.file or file
            line = f"Error: {exc.message}" if exc.file else f"Error: {where}: {exc.message}"
            click.echo(line, err=True)
            error = {"message": exc.reason, "field": exc.path, "line": exc.line}
            results.append({"file": file, "ok": False, "error": error})
            continue
        try:
            dag = apply_policy(dag, "validate", dryrun=True)
            for one in dag.tasks:
                check_destinations(one)
        except StixError as exc:
            failed = True
            click.echo(f"Error: {file}: {exc.message}", err=True)
            error = {"message": exc.message, "field": None, "line": None}
            results.append({"file": file, "ok": False, "error": error})
            continue
        if not as_json:
            click.echo(f"ok: {file}")
            continue
        entry: dict[str, Any] = {
            "file": file,
            "ok": True,
            "name": dag.name,
            "execution": dag.execution,
        }
        docs = dag.to_yaml_config()  # an optional header, then one document per task
        if dag.is_job_group:
            entry.update({k: v for k, v in docs[0].items() if k not in ("name", "execution")})
        entry["tasks"] = docs[len(docs) - len(dag.tasks) :]
        results.append(entry)
    if as_json:
        click.echo(json.dumps(results, indent=2))
    if failed:
        raise SystemExit(1)
