"""Property: any mapping shaped like a task (right keys, wild values) loads or raises
``TaskError``; nothing else escapes, whatever the values are (NaN, huge integers, NUL
bytes, nested junk). The same holds for any YAML text and any file bytes."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stix.errors import TaskError
from stix.task import load_dag, load_task
from stix.task.parse import TASK_KEYS
from stix.task.resources import RESOURCE_KEYS

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

tricky = st.sampled_from(
    [
        "A100:abc", "A100:nan", "A100:inf", "A100:0", "A100:-1", "nvidia:80GB+:8", "4+", "nanx",
        "inf", "-0", "1e999", "////", "aws/mars-1", "aws//x", "k8s/a/b", "1TB", "0GB", "\x00",
        "x\x00y", "secrets:X", "$HOME", "${A}", "~/sky_workdir", "../../etc", "*", "", " ",
        "9" * 400,
    ]
)  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    tricky,
)
keys = st.one_of(st.text(max_size=8), st.sampled_from(RESOURCE_KEYS + TASK_KEYS), tricky)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=10,
)
resources = st.dictionaries(
    st.sampled_from((*RESOURCE_KEYS, "any_of", "ordered")),
    st.one_of(
        values, st.lists(st.dictionaries(st.sampled_from(RESOURCE_KEYS), values), max_size=3)
    ),
    max_size=5,
)
tasks = st.dictionaries(
    st.sampled_from(TASK_KEYS),
    values,
    max_size=6,
).flatmap(lambda d: st.one_of(st.just(d), resources.map(lambda r, d=d: {**d, "resources": r})))


def _loads_or_task_error(source: object) -> None:
    try:
        load_task(source)
    except TaskError as exc:
        assert "\n" not in exc.message, exc.message


@SETTINGS
@given(tasks)
def test_any_task_mapping_loads_or_is_a_task_error(raw) -> None:
    _loads_or_task_error(raw)


@SETTINGS
@given(st.text(max_size=300))
def test_any_yaml_text_loads_or_is_a_task_error(text) -> None:
    try:
        load_dag("run: echo\n" + text)
    except TaskError as exc:
        assert "\n" not in exc.message, exc.message


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=400))
def test_any_file_bytes_load_or_are_a_task_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "task.yaml"
    path.write_bytes(data)
    _loads_or_task_error(path)
