"""Fixtures of the SSH node harness for the harness's own tests."""

from harness.fixtures import cloud, cloud_nodes, ssh_harness, ssh_nodes

__all__ = ["cloud", "cloud_nodes", "ssh_harness", "ssh_nodes"]
