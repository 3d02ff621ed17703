"""Loading files: multi-document pipelines, job groups, YAML errors, sources, dumps."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from stix.errors import TaskError
from stix.task import Dag, Task, dump_yaml, load_dag, load_task


def write(tmp_path: Path, text: str, name: str = "t.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_pipeline_with_header(tmp_path):
    path = write(tmp_path, "name: pipe\n---\nname: a\nrun: echo a\n---\nname: b\nrun: echo b\n")
    dag = load_dag(path)
    assert dag.name == "pipe" and [t.name for t in dag.tasks] == ["a", "b"]
    assert dag.execution == "serial" and dag.edges == [(0, 1)] and not dag.is_job_group
    assert load_dag(dump_yaml(dag.to_yaml_config())) == dag


def test_pipeline_without_header_and_serial_header():
    dag = load_dag("run: a\n---\nrun: b\n")
    assert dag.name is None and len(dag.tasks) == 2 and dag.edges == [(0, 1)]
    dag = load_dag("name: p\nexecution: serial\n---\nrun: a\n")
    assert dag.name == "p" and dag.tasks == [Task(run="a")]


def test_header_only_file_is_one_empty_task():
    dag = load_dag("name: lonely\n")
    assert dag.name == "lonely" and dag.tasks == [Task(name="lonely")]


def test_single_task_dag_name_is_task_name():
    assert load_dag("name: t\nrun: x\n").name == "t"


def test_job_group():
    dag = load_dag(
        """\
name: grp
execution: parallel
primary_tasks: [server]
termination_delay: {default: 30s, client: 2m}
inter_connection: true
---
name: server
run: serve
---
name: client
run: call
"""
    )
    assert dag.is_job_group and dag.edges == [] and dag.primary_tasks == ("server",)
    assert dag.termination_delay == {"default": 30, "client": 120} and dag.inter_connection is True
    assert load_dag(dag.to_yaml_config()) == dag


@pytest.mark.parametrize(
    ("text", "path", "line", "words"),
    [
        ("execution: parallel\n---\nname: a\n---\nname: a\n", "name", 5, "duplicate"),
        ("execution: parallel\n---\nname: a\n---\nrun: x\n", "name", 5, "needs a name"),
        (
            "execution: parallel\nprimary_tasks: [zz]\n---\nname: a\n",
            "primary_tasks",
            2,
            "not a task",
        ),
        (
            "execution: parallel\ntermination_delay: soon\n---\nname: a\n",
            "termination_delay",
            2,
            "invalid",
        ),
        ("name: p\nexecution: sideways\n---\nrun: a\n", "execution", 2, "serial"),
        (
            "name: p\nexecution: serial\ninter_connection: true\n---\nrun: a\n",
            "inter_connection",
            3,
            "parallel",
        ),
        (
            "name: p\n---\nrun: a\n---\nresources:\n  cpus: zero\n",
            "resources.cpus",
            6,
            "invalid cpus",
        ),
    ],
)
def test_dag_errors(text, path, line, words):
    with pytest.raises(TaskError) as info:
        load_dag(text)
    assert (info.value.path, info.value.line) == (path, line)
    assert words in info.value.reason


def test_load_task_refuses_several_tasks(tmp_path):
    path = write(tmp_path, "run: a\n---\nrun: b\n")
    with pytest.raises(TaskError, match="expected one task, found 2"):
        load_task(path)


def test_file_errors(tmp_path):
    with pytest.raises(TaskError) as info:
        load_task(tmp_path / "missing.yaml")
    assert str(info.value) == f"{tmp_path / 'missing.yaml'}: file not found"
    bad = write(tmp_path, "run: a\nrun: b\n")
    with pytest.raises(TaskError) as info:
        load_task(bad)
    assert info.value.line == 2 and "duplicate key 'run'" in info.value.reason
    broken = write(tmp_path, "resources:\n  cpus: [1\nrun: x\n")
    with pytest.raises(TaskError) as info:
        load_task(broken)
    assert info.value.line == 3 and "invalid YAML" in info.value.reason
    listy = write(tmp_path, "- run: a\n")
    with pytest.raises(TaskError, match="expected a YAML mapping"):
        load_task(listy)
    with pytest.raises(TaskError, match="empty"):
        load_task(write(tmp_path, "# nothing\n", "empty.yaml"))


def test_error_message_has_file_line_and_field(tmp_path):
    path = write(tmp_path, "name: x\nresources:\n  acelerators: V100\n")
    with pytest.raises(TaskError) as info:
        load_task(str(path))
    assert str(info.value) == (
        f"{path}:3: resources.acelerators: unknown field 'acelerators'; did you mean 'accelerators'?"
    )
    assert info.value.file == str(path)


def test_sources_text_dict_and_from_yaml_config():
    assert load_task({"run": "x"}) == load_task("run: x\n") == Task.from_yaml_config({"run": "x"})
    with pytest.raises(TaskError) as info:
        Task.from_yaml_config({"resources": {"cpus": "x"}})
    assert info.value.path == "resources.cpus" and info.value.line is None


def test_task_dump_round_trip_keeps_order_and_secrets():
    t = load_task(
        "name: a\nnum_nodes: 2\nresources:\n  any_of:\n    - infra: aws\n    - infra: gcp\nsecrets:\n  K: v\nrun: x\n"
    )
    config = t.to_yaml_config(reveal_secrets=True)
    assert list(config) == ["name", "num_nodes", "resources", "secrets", "run"]
    assert load_task(dump_yaml(config)) == t
    assert Dag(name="a", tasks=[t]).to_yaml_config() == [t.to_yaml_config()]


def test_import_is_light():
    code = (
        "import sys, stix.task; "
        "heavy = [m for m in ('cattrs', 'yaml', 'stix.task.loader', 'click', 'sqlite_utils') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
