"""Pieces of docker images on VMs that need no node: what a request needs, login, specs.

The whole path (a container per node, agent, setup and run inside it) runs end to end on
harness nodes with a real container engine in ``stix-lambda/tests/test_lambda_docker.py``.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any, ClassVar

import pytest
from stix.errors import ClusterError, TaskError
from stix.interfaces import Cloud
from stix.runner.base import runner_from_spec
from stix.runner.container import _HOP, ContainerRunner, _run_options, login_config
from stix.runner.local import LocalRunner
from stix.task import Resources


class VmCloud(Cloud):
    name: ClassVar[str] = "vm"
    features: ClassVar[frozenset[str]] = frozenset({"docker_image"})

    def check(self) -> Any:
        raise NotImplementedError


@pytest.mark.parametrize(
    ("image", "refusal"),
    [
        ("docker:pytorch/pytorch:2.3.0", None),
        ({"us-east-1": "docker:a:1", "eu-west-1": "docker:b:2"}, None),
        ({"docker": "nvcr.io/nvidia/pytorch:24.01-py3"}, None),  # the reserved key
        ("ami-0123", "vm: image id is not supported"),
        ({"docker": "a:1", "us-east-1": "ami-0123"}, "vm: image id is not supported"),
    ],
)
def test_a_vm_cloud_with_the_feature_takes_docker_images_only(
    image: Any, refusal: str | None
) -> None:
    assert VmCloud().unsupported(Resources(image_id=image), 1) == refusal


def test_the_reserved_docker_key_names_the_image_in_every_region() -> None:
    resources = Resources(image_id={"docker": "docker:a:1", "us-east-1": "ami-0123"})
    assert resources.docker_image("us-east-1") == "a:1"
    assert resources.docker_image(None) == "a:1"


def test_login_needs_all_three_values_and_secrets_count() -> None:
    assert login_config({"OTHER": "x"}, None) == {}
    full = login_config(
        {"SKYPILOT_DOCKER_USERNAME": "me", "SKYPILOT_DOCKER_SERVER": "r.example.com"},
        {"SKYPILOT_DOCKER_PASSWORD": "pw"},
    )
    assert full["SKYPILOT_DOCKER_PASSWORD"] == "pw" and full["SKYPILOT_DOCKER_USERNAME"] == "me"
    with pytest.raises(TaskError, match=r"envs: .* missing SKYPILOT_DOCKER_PASSWORD"):
        login_config({"SKYPILOT_DOCKER_USERNAME": "me", "SKYPILOT_DOCKER_SERVER": "r"}, {})


def test_run_options_are_a_string_or_a_list_of_strings() -> None:
    assert _run_options(None) == []
    assert _run_options("--ipc=host") == ["--ipc=host"]
    assert _run_options(["--ipc=host", "--ulimit memlock=-1"]) == [
        "--ipc=host", "--ulimit", "memlock=-1"]  # fmt: skip
    # quoted values stay whole and nothing is expanded
    assert _run_options('-e "MSG=a b" -e X=$HOME') == ["-e", "MSG=a b", "-e", "X=$HOME"]
    with pytest.raises(ClusterError, match=r"docker\.run_options: cannot split"):
        _run_options('-e "MSG=a')
    with pytest.raises(ClusterError, match=r"docker\.run_options"):
        _run_options({"ipc": "host"})


def test_the_spec_round_trips_and_the_head_runs_the_agent_in_its_container(tmp_path: Path) -> None:
    inner = LocalRunner(tmp_path, "n0", name="boxed")
    runner = ContainerRunner(inner, engine="sudo docker")
    again = runner_from_spec(runner.to_spec())
    assert isinstance(again, ContainerRunner)
    assert (again.engine, again.container, again.name) == ("sudo docker", "sky_container", "boxed")
    assert again.inner.to_spec() == inner.to_spec()


def test_the_hop_runs_the_last_word_in_the_workers_container(tmp_path: Path) -> None:
    # the head's agent appends one shell command to a worker's argv; the hop hands the
    # VM argv `<engine> exec sky_container bash -c <that command>` instead. Here the VM
    # argv is a local bash that prints what it would run.
    argv = ["python3", "-c", _HOP, "docker", "sky_container", "bash", "-c", 'echo "$0"']
    out = subprocess.run([*argv, "echo 'it''s' $HOME"], capture_output=True, text=True, check=True)
    words = shlex.split(out.stdout)
    assert words == ["docker", "exec", "sky_container", "bash", "-c", "echo 'it''s' $HOME"]


def test_only_a_docker_task_has_its_registry_login_checked() -> None:
    from stix.runner.container import task_login, wants_docker
    from stix.task import Task

    assert wants_docker(Resources(image_id="docker:a:1"))
    assert wants_docker(Resources(image_id={"docker": "a:1", "us-east-1": "ami-1"}))
    assert not wants_docker(Resources(image_id="ami-1")) and not wants_docker(Resources())
    half = {"SKYPILOT_DOCKER_USERNAME": "me"}  # an unrelated task may carry such a name
    plain = Task.from_yaml_config({"run": "true", "envs": half})
    assert task_login(plain) is None
    boxed = Task.from_yaml_config(
        {"run": "true", "envs": half, "resources": {"image_id": "docker:a:1"}}
    )
    with pytest.raises(TaskError, match="missing SKYPILOT_DOCKER_PASSWORD"):
        task_login(boxed)
