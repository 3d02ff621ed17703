"""Pytest fixtures over :class:`harness.sshnodes.SshNodes` (import them into a conftest).

``ssh_harness`` (session scope) starts ``STIX_HARNESS_NODES`` nodes (default 4) once per
test process and tears them down at the end; ``ssh_nodes`` hands the same harness to a
test and restarts any sshd the test stopped. ``cloud_nodes`` (session scope) are the nodes
fake clouds hand out as instances (:mod:`harness.cloudnodes`); ``cloud`` hands them to one
test and fails it if an instance is left. Tests skip cleanly where no harness can run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.cloudnodes import CloudNodes
from harness.sshnodes import HarnessUnavailable, Node, SshNodes


@pytest.fixture(scope="session")
def ssh_harness() -> Iterator[SshNodes]:
    count = int(os.environ.get("STIX_HARNESS_NODES", "4"))
    try:
        nodes = SshNodes(count)
    except HarnessUnavailable as exc:
        pytest.skip(str(exc))
    with nodes:
        yield nodes


@pytest.fixture
def ssh_nodes(ssh_harness: SshNodes) -> Iterator[SshNodes]:
    yield ssh_harness
    for node in ssh_harness.nodes:
        ssh_harness.start_sshd(node)


@pytest.fixture(scope="session")
def cloud_nodes() -> Iterator[CloudNodes]:
    """``STIX_HARNESS_CLOUD_NODES`` (default 4) nodes that fake clouds hand out as instances."""
    count = int(os.environ.get("STIX_HARNESS_CLOUD_NODES", "4"))
    try:
        nodes = CloudNodes(count)
        nodes.start()
    except HarnessUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield nodes
    finally:
        nodes.teardown()


@pytest.fixture
def cloud(cloud_nodes: CloudNodes) -> Iterator[CloudNodes]:
    """The session's cloud nodes for one test: fails the test if it leaves an instance behind."""
    cloud_nodes.reset()
    yield cloud_nodes
    left = cloud_nodes.assigned()
    cloud_nodes.reset()
    assert not left, f"instances still holding harness nodes after the test: {left}"


IMAGE = "localhost/stix-test:python"  # bash, coreutils and python3 (harness.containers)
IMAGE_NO_PYTHON = "localhost/stix-test:bare"


@pytest.fixture(scope="session")
def container_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Root file system tarballs of the test images, built once per test process."""
    from harness import containers

    reason = containers.unavailable()
    if reason:
        pytest.skip(f"no container engine: {reason}")
    folder = tmp_path_factory.mktemp("images")
    return {
        IMAGE: containers.build_image(folder / "python.tar", marker="stix-test-image"),
        IMAGE_NO_PYTHON: containers.build_image(folder / "bare.tar", python=False),
    }


@pytest.fixture
def docker_cloud(cloud: CloudNodes, container_images: dict[str, Path]) -> CloudNodes:
    """``cloud`` whose nodes have a docker engine (podman) holding the test images."""
    if not cloud.container_storage:
        cloud.enable_containers(container_images)
    return cloud


def stix_target(harness: SshNodes, node: Node, known_hosts: Path | str, **kw: Any) -> Any:
    """An ``stix.runner.ssh_conn.SshTarget`` logging into ``node`` with the harness key."""
    from stix.runner.ssh_conn import SshTarget

    kw.setdefault("name", node.name)
    return SshTarget(
        host=node.ip,
        user=node.user,
        port=node.port,
        key=str(harness.key),
        known_hosts=str(known_hosts),
        **kw,
    )
