"""Command runners: how the client reaches a node (local subprocess now, SSH and pod exec later).

Every runner runs commands, streams output, copies files and syncs folders, and tells
the node agent how the head reaches this node (:meth:`Runner.node_spec`).
"""

from __future__ import annotations

from stix.runner.base import Runner, RunResult, run_parallel, runner_from_spec

__all__ = ["RunResult", "Runner", "run_parallel", "runner_from_spec"]
