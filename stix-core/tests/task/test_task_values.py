"""Value forms of single fields: cpus, memory, sizes, ports, accelerators, infra."""

from __future__ import annotations

import pytest
from stix.task import values
from stix.task.problems import Invalid


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        (4, "4"),
        (4.0, "4"),
        ("4", "4"),
        ("4+", "4+"),
        (" 8 + ", "8+"),
        (0.5, "0.5"),
        ("0.1+", "0.1+"),
    ],
)
def test_cpus_forms(raw, canonical):
    assert values.parse_cpus(raw) == canonical


@pytest.mark.parametrize("raw", [0, -1, "x", "4++", True, [4]])
def test_cpus_rejects(raw):
    with pytest.raises(Invalid):
        values.parse_cpus(raw)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        (16, "16"),
        ("16+", "16+"),
        ("16GB", "16"),
        ("16gb+", "16+"),
        ("512MB", "0.5"),
        ("512Mi", "0.5"),
        ("1TB+", "1024+"),
        ("2Ti", "2048"),
        ("1048576KB", "1"),
        ("4x", "4x"),
        ("0.5X", "0.5x"),
    ],
)
def test_memory_forms(raw, canonical):
    assert values.parse_memory(raw) == canonical


@pytest.mark.parametrize("raw", ["16 parsecs", "0", "-4", "x", "4x+", {}])
def test_memory_rejects(raw):
    with pytest.raises(Invalid):
        values.parse_memory(raw)


@pytest.mark.parametrize(("raw", "gb"), [(256, 256), ("1024GB", 1024), ("1TB", 1024), ("100", 100)])
def test_disk_size_forms(raw, gb):
    assert values.parse_disk_size(raw) == gb


@pytest.mark.parametrize("raw", ["100MB", 0, "big", True])
def test_disk_size_rejects(raw):
    with pytest.raises(Invalid):
        values.parse_disk_size(raw)


@pytest.mark.parametrize(
    ("raw", "ports"),
    [
        (8080, ("8080",)),
        ("8080", ("8080",)),
        ("8000-8010", ("8000-8010",)),
        ("8080,9090", ("8080", "9090")),
        ([8080, 8081, "8082-8090", 9000], ("8080-8090", "9000")),
        (["9000-9010", "9005-9020"], ("9000-9020",)),
        ([], None),
        (None, None),
    ],
)
def test_ports_forms(raw, ports):
    assert values.parse_ports(raw) == ports


@pytest.mark.parametrize("raw", [0, 70000, "80-70", "http", True, [{"a": 1}]])
def test_ports_rejects(raw):
    with pytest.raises(Invalid):
        values.parse_ports(raw)


def test_ports_to_list():
    assert values.ports_to_list(("80", "8000-8002")) == [80, 8000, 8001, 8002]


@pytest.mark.parametrize(
    ("raw", "expected", "form"),
    [
        ("V100", [("V100", 1)], "one"),
        ("V100:4", [("V100", 4)], "one"),
        ("K80:0.5", [("K80", 0.5)], "one"),
        ({"V100": 4}, [("V100", 4)], "one"),
        ({"V100": None}, [("V100", 1)], "one"),
        ({"A100:1": None, "Inferentia:6": None}, [("A100", 1), ("Inferentia", 6)], "set"),
        (["V100:1", "A100:2"], [("V100", 1), ("A100", 2)], "list"),
        ("80GB+", [("80GB+", 1)], "one"),
        ("48GB:2", [("48GB", 2)], "one"),
        ("nvidia:80GB+:8", [("nvidia:80GB+", 8)], "one"),
        ("tpu-v4-8", [("tpu-v4-8", 1)], "one"),
        (None, [None], "one"),
    ],
)
def test_accelerator_forms(raw, expected, form):
    assert values.parse_accelerators(raw) == (expected, form)


def test_accelerator_count_type():
    ((_, count),) = values.parse_accelerators("V100:2.0")[0]  # type: ignore[misc]
    assert count == 2 and isinstance(count, int)


@pytest.mark.parametrize("raw", ["V100:0", "V100:-1", [], 5, {"V100": "many"}])
def test_accelerators_reject(raw):
    with pytest.raises(Invalid):
        values.parse_accelerators(raw)


@pytest.mark.parametrize(
    ("raw", "parts"),
    [
        ("aws", ("aws", None, None)),
        ("AWS/us-east-1", ("aws", "us-east-1", None)),
        ("aws/us-east-1/us-east-1a", ("aws", "us-east-1", "us-east-1a")),
        ("*/us-east-1", (None, "us-east-1", None)),
        ("gcp/*/us-central1-a", ("gcp", None, "us-central1-a")),
        ("k8s", ("kubernetes", None, None)),
        (
            "kubernetes/arn:aws:eks:us-east-1:1:cluster/my",
            ("kubernetes", "arn:aws:eks:us-east-1:1:cluster/my", None),
        ),
        ("ssh/my-pool", ("ssh", "my-pool", None)),
    ],
)
def test_infra_forms(raw, parts):
    assert values.parse_infra(raw) == parts
    again = values.format_infra(*parts)
    assert again is not None and values.parse_infra(again) == parts


def test_infra_rejects_too_many_parts():
    with pytest.raises(Invalid):
        values.parse_infra("aws/a/b/c")


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("nvme", "nvme:100+"), ("ssd", "ssd:100+"), ("ssd:500+", "ssd:500+"), ("1TB", "nvme:1024")],
)
def test_local_disk_forms(raw, canonical):
    assert values.parse_local_disk(raw) == canonical


@pytest.mark.parametrize(
    ("raw", "minutes"),
    [(30, 30), ("30", 30), ("30m", 30), ("2h", 120), ("1d", 1440), ("1w", 10080)],
)
def test_duration_minutes(raw, minutes):
    assert values.parse_duration_minutes(raw, "autostop") == minutes


def test_duration_seconds():
    assert values.parse_duration_seconds("30s", "d") == 30
    assert values.parse_duration_seconds(45, "d") == 45
    assert values.parse_duration_seconds("2m", "d") == 120
    with pytest.raises(Invalid):
        values.parse_duration_seconds("soon", "d")
