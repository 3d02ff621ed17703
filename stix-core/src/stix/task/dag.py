"""``Dag``: the tasks of one YAML file, a chain (pipeline) or a parallel job group.

The header document rules of multi-document YAML live here; per-task parsing is in
``stix.task.parse`` and file handling in ``stix.task.loader``.
"""

from __future__ import annotations

import re
from typing import Any

from attrs import Factory, define

from stix.task import values
from stix.task.model import Task
from stix.task.parse import parse_name
from stix.task.problems import Invalid, check_keys

SERIAL = "serial"
PARALLEL = "parallel"
HEADER_KEYS = ("name", "execution", "primary_tasks", "termination_delay", "inter_connection")
GROUP_TASK_NAME_RE = re.compile(r"[a-zA-Z0-9_-]+")


@define(kw_only=True, eq=True)
class Dag:
    """Tasks of one file. ``serial``: a chain, task i feeds task i+1; ``parallel``: a job group."""

    name: str | None = None
    tasks: list[Task] = Factory(list)
    execution: str = SERIAL
    primary_tasks: tuple[str, ...] | None = None
    termination_delay: int | dict[str, int] | None = None
    inter_connection: bool | None = None

    @property
    def edges(self) -> list[tuple[int, int]]:
        """Dependencies as (upstream, downstream) task indexes."""
        if self.execution == PARALLEL:
            return []
        return [(i, i + 1) for i in range(len(self.tasks) - 1)]

    @property
    def is_job_group(self) -> bool:
        """True for ``execution: parallel`` (tasks run together as one managed job)."""
        return self.execution == PARALLEL

    def is_chain(self) -> bool:
        """True when the tasks form a simple chain (always, for YAML-loaded DAGs)."""
        return self.execution == SERIAL

    def to_yaml_config(self, reveal_secrets: bool = False) -> list[dict[str, Any]]:
        """Documents of the canonical YAML: an optional header, then one per task."""
        docs = [t.to_yaml_config(reveal_secrets=reveal_secrets) for t in self.tasks]
        header: dict[str, Any] = {}
        if self.name is not None:
            header["name"] = self.name
        if self.execution == PARALLEL:
            header["execution"] = PARALLEL
            if self.primary_tasks is not None:
                header["primary_tasks"] = list(self.primary_tasks)
            if self.termination_delay is not None:
                delay = self.termination_delay
                header["termination_delay"] = dict(delay) if isinstance(delay, dict) else delay
            if self.inter_connection is not None:
                header["inter_connection"] = self.inter_connection
            return [header, *docs]
        single_named = len(self.tasks) == 1 and self.tasks[0].name == self.name
        if header and not single_named:
            return [header, *docs]
        return docs


def split_header(docs: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Separate the header document (if the first document is one) from the task documents."""
    if not docs:
        return None, []
    first = docs[0]
    keys = set(first)
    if first.get("execution") == PARALLEL or (
        len(docs) > 1 and "execution" in keys and keys <= set(HEADER_KEYS)
    ):
        return first, docs[1:]
    if keys == {"name"} or (keys == {"name", "execution"} and first["execution"] == SERIAL):
        return first, docs[1:]
    return None, docs


def build_dag(header: dict[str, Any] | None, tasks: list[Task]) -> Dag:
    """Apply the header rules to parsed tasks; problems carry ``doc`` (0 = first document)."""
    if header is None:
        name = tasks[0].name if len(tasks) == 1 else None
        return Dag(name=name, tasks=tasks)
    check_keys(header, HEADER_KEYS)
    try:
        name = parse_name(header.get("name"))
    except Invalid as exc:
        raise exc.under(("name",)) from None
    execution = header.get("execution", SERIAL)
    if execution not in (SERIAL, PARALLEL):
        raise Invalid(
            f"invalid execution {execution!r}; use 'serial' or 'parallel'", ("execution",)
        )
    if not tasks:
        tasks = [Task(name=name)]
    if execution == SERIAL:
        for key in ("primary_tasks", "termination_delay", "inter_connection"):
            if key in header:
                raise Invalid(f"'{key}' is only allowed with 'execution: parallel'", (key,))
        return Dag(name=name, tasks=tasks)
    names = _check_group_names(tasks)
    primary = header.get("primary_tasks")
    if primary is not None:
        if not isinstance(primary, list) or not all(isinstance(p, str) for p in primary):
            raise Invalid("primary_tasks must be a list of task names", ("primary_tasks",))
        for item in primary:
            if item not in names:
                raise Invalid(
                    f"primary task {item!r} is not a task of this group", ("primary_tasks",)
                )
        primary = tuple(primary)
    inter = header.get("inter_connection")
    if inter is not None and not isinstance(inter, bool):
        raise Invalid("inter_connection must be true or false", ("inter_connection",))
    delay = _termination_delay(header.get("termination_delay"), names)
    return Dag(
        name=name,
        tasks=tasks,
        execution=PARALLEL,
        primary_tasks=primary,
        termination_delay=delay,
        inter_connection=inter,
    )


def _check_group_names(tasks: list[Task]) -> set[str]:
    seen: set[str] = set()
    for index, task in enumerate(tasks, start=1):
        if not task.name or not GROUP_TASK_NAME_RE.fullmatch(task.name):
            problem = Invalid(
                "each task of a job group needs a name of letters, digits, '-' or '_'", ("name",)
            )
            problem.doc = index  # type: ignore[attr-defined]
            raise problem
        if task.name in seen:
            problem = Invalid(f"duplicate task name {task.name!r} in the job group", ("name",))
            problem.doc = index  # type: ignore[attr-defined]
            raise problem
        seen.add(task.name)
    return seen


def _termination_delay(raw: Any, names: set[str]) -> int | dict[str, int] | None:
    if raw is None:
        return None
    where = ("termination_delay",)
    if isinstance(raw, dict):
        out: dict[str, int] = {}
        for key, value in raw.items():
            if key != "default" and key not in names:
                raise Invalid(f"{key!r} is not a task of this group (or 'default')", (*where, key))
            try:
                out[str(key)] = values.parse_duration_seconds(value, "termination_delay")
            except Invalid as exc:
                raise exc.under((*where, key)) from None
        return out
    try:
        return values.parse_duration_seconds(raw, "termination_delay")
    except Invalid as exc:
        raise exc.under(where) from None
