"""Fixtures of the SSH node harness for the harness's own tests."""

from harness.fixtures import ssh_harness, ssh_nodes

__all__ = ["ssh_harness", "ssh_nodes"]
