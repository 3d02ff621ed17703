"""Pytest fixtures over :class:`harness.sshnodes.SshNodes` (import them into a conftest).

``ssh_harness`` (session scope) starts ``STIX_HARNESS_NODES`` nodes (default 4) once per
test process and tears them down at the end; ``ssh_nodes`` hands the same harness to a
test and restarts any sshd the test stopped. Tests skip cleanly where no harness can run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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
