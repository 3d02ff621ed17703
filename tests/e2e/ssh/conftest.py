"""SSH end-to-end tests run against real sshd nodes from the harness in ``tests/harness``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness.fixtures import ssh_harness, ssh_nodes  # noqa: E402
from harness.sshnodes import Node, SshNodes  # noqa: E402

__all__ = ["ssh_harness", "ssh_nodes"]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own STIX_HOME and HOME (so ~/.ssh/config is a temp file)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("STIX_HOME", str(home / ".stix"))
    return home


def target_for(harness: SshNodes, node: Node, known_hosts: Path, **kw: object):  # type: ignore[no-untyped-def]
    """An :class:`SshTarget` logging into a harness node with the harness key."""
    from stix.runner.ssh_conn import SshTarget

    return SshTarget(
        host=node.ip,
        user=node.user,
        port=node.port,
        key=str(harness.key),
        known_hosts=str(known_hosts),
        name=kw.pop("name", node.name),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )
