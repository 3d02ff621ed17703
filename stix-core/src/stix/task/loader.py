"""Load task / pipeline / service YAML from a path, text or mapping into ``Task``/``Dag``.

Every problem becomes ``stix.errors.TaskError`` with field path, file and line.
"""

from __future__ import annotations

import os
from typing import Any

from stix.errors import TaskError
from stix.task.clouds import checking_places
from stix.task.dag import Dag, build_dag, split_header
from stix.task.model import Task
from stix.task.problems import Invalid, format_path, type_name
from stix.task.yamlio import Document, YamlSyntaxError, read_documents

Source = "str | os.PathLike[str] | dict[str, Any] | list[dict[str, Any]]"


def _looks_like_path(text: str) -> bool:
    if "\n" in text:
        return False
    stripped = text.strip()
    if stripped.endswith((".yaml", ".yml")):
        return True
    return not any(ch in stripped for ch in ":{}[]#") and os.sep in stripped


def read_source(source: Any) -> tuple[list[Document], str | None]:
    """Documents of a path, YAML text, mapping or list of mappings, plus the file name."""
    if isinstance(source, dict):
        return [Document(source, None)], None
    if isinstance(source, list):
        return [Document(doc, None) for doc in source], None
    if isinstance(source, os.PathLike) or (isinstance(source, str) and _looks_like_path(source)):
        from stix.inputs import InputRefused, read_text

        name = str(source)
        try:
            text = read_text(os.fspath(source))
        except InputRefused as exc:
            raise TaskError(exc.reason, file=name) from None
        return _parse_text(text, name), name
    if isinstance(source, str):
        return _parse_text(source, None), None
    raise TaskError(f"cannot load a task from {type(source).__name__}")


def _parse_text(text: str, name: str | None) -> list[Document]:
    try:
        docs = read_documents(text)
    except YamlSyntaxError as exc:
        raise TaskError(exc.message, file=name, line=exc.line) from None
    if not docs:
        raise TaskError("the YAML is empty; expected a mapping of task fields", file=name)
    return docs


def _located(exc: Invalid, doc: Document | None, file: str | None) -> TaskError:
    problems = [exc, *exc.others]

    def line(p: Invalid) -> int | None:
        return doc.line_of(p.path) if doc is not None else None

    ranked = sorted(problems, key=lambda p: (line(p) is None, line(p) or 0))
    best = ranked[0]
    return TaskError(
        best.message,
        path=format_path(best.path) or None,
        file=file,
        line=line(best),
        hint=best.hint,
    )


def load_dag(
    source: Any,
    *,
    env_overrides: dict[str, str | None] | None = None,
    secret_overrides: dict[str, str | None] | None = None,
) -> Dag:
    """Load a task, pipeline or job-group YAML (path, text, mapping or list of mappings)."""
    from stix.task.parse import parse_task

    docs, file = read_source(source)
    for doc in docs:
        if not isinstance(doc.data, dict):
            line = doc.node.start_mark.line + 1 if doc.node is not None else None
            raise TaskError(
                f"expected a YAML mapping of task fields, got {type_name(doc.data)}",
                file=file,
                line=line,
            )
    header, task_docs = split_header([d.data for d in docs])
    offset = 1 if header is not None else 0
    tasks: list[Task] = []
    with checking_places():  # a user's file: regions and zones meet the catalog
        for index, data in enumerate(task_docs):
            doc = docs[index + offset]
            try:
                tasks.append(parse_task(data, env_overrides, secret_overrides))
            except Invalid as exc:
                raise _located(exc, doc, file) from None
    try:
        return build_dag(header, tasks)
    except Invalid as exc:
        raise _located(exc, docs[getattr(exc, "doc", 0)], file) from None


def load_task(
    source: Any,
    *,
    env_overrides: dict[str, str | None] | None = None,
    secret_overrides: dict[str, str | None] | None = None,
) -> Task:
    """Load a single-task YAML; a file with several tasks is an error (use ``load_dag``)."""
    dag = load_dag(source, env_overrides=env_overrides, secret_overrides=secret_overrides)
    if len(dag.tasks) != 1:
        file = (
            str(source) if isinstance(source, (str, os.PathLike)) and _is_pathish(source) else None
        )
        raise TaskError(
            f"expected one task, found {len(dag.tasks)}",
            file=file,
            hint="load it as a pipeline (load_dag) or use 'stix jobs launch'",
        )
    return dag.tasks[0]


def _is_pathish(source: Any) -> bool:
    return isinstance(source, os.PathLike) or _looks_like_path(str(source))


def task_from_mapping(
    config: dict[str, Any],
    *,
    env_overrides: dict[str, str | None] | None = None,
    secret_overrides: dict[str, str | None] | None = None,
) -> Task:
    """Parse one already-loaded mapping (errors carry the field path, no line)."""
    from stix.task.parse import parse_task

    try:
        return parse_task(config, env_overrides, secret_overrides)
    except Invalid as exc:
        raise _located(exc, None, None) from None
