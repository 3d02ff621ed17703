"""Pytest fixtures over :class:`harness.sshnodes.SshNodes` (import them into a conftest).

``ssh_harness`` (session scope) starts ``STIX_HARNESS_NODES`` nodes (default 4) once per
test process and tears them down at the end; ``ssh_nodes`` hands the same harness to a
test and restarts any sshd the test stopped. Tests skip cleanly where no harness can run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from harness.sshnodes import HarnessUnavailable, SshNodes


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
