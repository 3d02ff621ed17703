"""Resources: value forms, candidates from any_of/ordered/multi-accelerators, errors with lines."""

from __future__ import annotations

import textwrap

import pytest
from stix.errors import TaskError
from stix.task import Resources, load_task
from stix.task.resources import Autostop


def task(text: str, **kw):
    return load_task(textwrap.dedent(text), **kw)


def error(text: str) -> TaskError:
    with pytest.raises(TaskError) as info:
        load_task(textwrap.dedent(text))
    return info.value


def test_single_resources_normalised():
    t = task(
        """
        resources:
          infra: AWS/us-east-1/us-east-1a
          cpus: 4+
          memory: 32GB+
          gpus: V100:2
          use_spot: true
          disk_size: 1TB
          disk_tier: HIGH
          ports: [8080, "8081", 9000-9010]
          labels: {team: ml, n: 3}
          image_id: docker:ubuntu:22.04
        """
    )
    (r,) = t.resources
    assert (r.cloud, r.region, r.zone, r.infra) == (
        "aws",
        "us-east-1",
        "us-east-1a",
        "aws/us-east-1/us-east-1a",
    )
    assert r.cpus == "4+" and r.cpus_request() == (4.0, True)
    assert r.memory == "32+" and r.memory_request() == (32.0, True) and r.memory_per_cpu() is None
    assert r.accelerators == {"V100": 2} and r.accelerator() == ("V100", 2.0)
    assert r.use_spot is True and r.disk_size == 1024 and r.disk_tier == "high"
    assert r.ports == ("8080-8081", "9000-9010") and len(r.ports_list()) == 13
    assert r.labels == {"team": "ml", "n": "3"}
    assert not t.resources_ordered


def test_memory_per_cpu_and_unset_helpers():
    r = Resources.from_yaml_config({"memory": "4x"})
    assert r.memory_request() is None and r.memory_per_cpu() == 4.0
    empty = Resources()
    assert empty.cpus_request() is None and empty.accelerator() is None and empty.ports_list() == []
    assert empty.infra is None and not empty.is_launchable


def test_legacy_cloud_region_and_k8s_alias():
    r = Resources.from_yaml_config({"cloud": "K8S", "region": "my-ctx"})
    assert (r.cloud, r.region, r.infra) == ("kubernetes", "my-ctx", "kubernetes/my-ctx")
    assert Resources.from_yaml_config({"infra": r.infra}) == r


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, Autostop()),
        (False, None),
        (10, Autostop(idle_minutes=10)),
        ("2h", Autostop(idle_minutes=120)),
        (
            {"idle_minutes": 3, "down": True, "wait_for": "JOBS"},
            Autostop(idle_minutes=3, down=True, wait_for="jobs"),
        ),
        ({"down": True}, Autostop(down=True)),
    ],
)
def test_autostop_forms(raw, expected):
    assert Resources.from_yaml_config({"autostop": raw}).autostop == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("failover", {"strategy": "FAILOVER"}),
        (
            {
                "strategy": "eager_next_region",
                "max_restarts_on_errors": 2,
                "recover_on_exit_codes": 33,
            },
            {
                "strategy": "EAGER_NEXT_REGION",
                "max_restarts_on_errors": 2,
                "recover_on_exit_codes": [33],
            },
        ),
        ({"max_restarts_on_errors": 1}, {"max_restarts_on_errors": 1}),
    ],
)
def test_job_recovery_forms(raw, expected):
    assert Resources.from_yaml_config({"job_recovery": raw}).job_recovery == expected
    assert Resources.from_yaml_config({"spot_recovery": raw}).job_recovery == expected


def test_any_of_merges_base_and_labels():
    t = task(
        """
        resources:
          cpus: 8
          labels: {a: "1"}
          any_of:
            - infra: aws
              labels: {b: "2"}
            - infra: gcp/us-east1
              cpus: 16
        """
    )
    assert [r.infra for r in t.resources] == ["aws", "gcp/us-east1"]
    assert [r.cpus for r in t.resources] == ["8", "16"]
    assert t.resources[0].labels == {"a": "1", "b": "2"}
    assert t.resources[1].labels == {"a": "1"}
    assert not t.resources_ordered


def test_ordered_is_ordered():
    t = task("resources:\n  ordered:\n    - accelerators: A100\n    - accelerators: T4:2\n")
    assert t.resources_ordered and [r.accelerator() for r in t.resources] == [
        ("A100", 1.0),
        ("T4", 2.0),
    ]


def test_accelerator_set_expands_unordered_and_list_ordered():
    unordered = task("resources:\n  accelerators: {A100:1, V100:2}\n  cpus: 4\n")
    assert [r.accelerators for r in unordered.resources] == [{"A100": 1}, {"V100": 2}]
    assert all(r.cpus == "4" for r in unordered.resources) and not unordered.resources_ordered
    ordered = task("resources:\n  accelerators: [V100, A100:8]\n")
    assert ordered.resources_ordered and [r.accelerators for r in ordered.resources] == [
        {"V100": 1},
        {"A100": 8},
    ]


def test_memory_based_accelerators_kept_as_names():
    t = task("resources:\n  accelerators: nvidia:80GB+:8\n")
    assert t.resources[0].accelerators == {"nvidia:80GB+": 8}


def test_resources_are_hashable_and_equal_by_value():
    a = Resources.from_yaml_config({"accelerators": "V100", "labels": {"x": "y"}})
    b = Resources.from_yaml_config({"accelerators": {"V100": 1}, "labels": {"x": "y"}})
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1


@pytest.mark.parametrize(
    ("text", "path", "line", "words"),
    [
        (
            "resources:\n  acelerators: V100\n",
            "resources.acelerators",
            2,
            "did you mean 'accelerators'",
        ),
        (
            "resources:\n  cpus: 4\n  gpus: V100\n  accelerators: A100\n",
            "resources.gpus",
            3,
            "not both",
        ),
        (
            "resources:\n  any_of:\n    - cpus: 2\n  ordered:\n    - cpus: 4\n",
            "resources.ordered",
            4,
            "not both",
        ),
        (
            "resources:\n  accelerators: {A100, V100}\n  ordered:\n    - cpus: 2\n",
            "resources.accelerators",
            2,
            "ordered",
        ),
        (
            "resources:\n  accelerators: [A100, V100]\n  any_of:\n    - cpus: 2\n",
            "resources.accelerators",
            2,
            "any_of",
        ),
        (
            "resources:\n  any_of:\n    - cpus: 2\n    - cpus: lots\n",
            "resources.any_of[1].cpus",
            4,
            "invalid cpus",
        ),
        (
            "resources:\n  any_of:\n    - cpus: 2\n    - cpu: 2\n",
            "resources.any_of[1].cpu",
            4,
            "did you mean 'cpus'",
        ),
        (
            "resources:\n  infra: aws\n  region: us-east-1\n",
            "resources.region",
            3,
            "cannot be combined",
        ),
        ("resources:\n  memory: lots\n", "resources.memory", 2, "invalid memory"),
        ("resources:\n  use_spot: maybe\n", "resources.use_spot", 2, "true or false"),
        ("resources:\n  disk_tier: fast\n", "resources.disk_tier", 2, "invalid disk_tier"),
        ("resources:\n  ports: 99999\n", "resources.ports", 2, "outside"),
        ("resources:\n  priority: 5000\n", "resources.priority", 2, "-1000 to 1000"),
        (
            "resources:\n  priority: 5\n  priority_class: high\n",
            "resources.priority_class",
            3,
            "not both",
        ),
        (
            "resources:\n  autostop:\n    idle_minutes: 5\n    wait_for: never\n",
            "resources.autostop.wait_for",
            4,
            "wait_for",
        ),
        (
            "resources:\n  job_recovery:\n    max_restarts_on_errors: -1\n",
            "resources.job_recovery.max_restarts_on_errors",
            3,
            ">= 0",
        ),
        ("resources:\n  accelerators: V100:0\n", "resources.accelerators", 2, "> 0"),
        ("resources: [cpus]\n", "resources", 1, "mapping"),
    ],
)
def test_resource_errors_name_path_and_line(text, path, line, words):
    exc = error(text)
    assert exc.path == path
    assert exc.line == line
    assert words in exc.reason


def test_first_error_in_file_order_is_reported():
    exc = error("resources:\n  memory: lots\n  cpus: many\n")
    assert exc.path == "resources.memory" and exc.line == 2


def test_docker_image_for_container_clouds():
    R = Resources
    assert R(image_id="docker:pytorch/pytorch:2.3.0").docker_image() == "pytorch/pytorch:2.3.0"
    assert R(image_id="ami-0123456789abcdef0").docker_image() is None
    assert R().docker_image() is None
    by_region = R(image_id={"US": "docker:a:1", "EU": "docker:b:2"})
    assert by_region.docker_image("EU") == "b:2" and by_region.docker_image("ASIA") is None
    assert R(image_id={"US": "docker:a:1"}).docker_image("EU") == "a:1"
