"""``AgentClient`` against the real agent: error kinds in replies, and output that is not the agent's."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from stix.backend.agent_client import AgentClient
from stix.errors import ClusterError, JobError
from stix.runner.base import RunResult
from stix.runner.local import LocalRunner

BANNER = "Welcome to node-0 {maintenance at 02:00}\nlast login: yesterday\n"


class BannerRunner(LocalRunner):
    """A node whose shell prints a login banner before every command's output."""

    def run(
        self,
        argv: Sequence[str] | str,
        *,
        input: str | None = None,
        env: dict[str, str] | None = None,
        stream: Callable[[bytes], None] | None = None,
        timeout: float | None = None,
    ) -> RunResult:
        assert not isinstance(argv, str)
        wrapped = ["bash", "-c", f'printf %s "{BANNER}"; exec "$@"', "banner", *argv]
        return super().run(wrapped, input=input, env=env, stream=stream, timeout=timeout)


def _client(cluster: Any, runner_class: type[LocalRunner] = LocalRunner) -> AgentClient:
    runner = runner_class(cluster.homes[0], "tc-node0", name="tc-head")
    return AgentClient(runner, str(cluster.pyz), sys.executable, "tc")


def test_agent_reply_names_the_error_kind(make_cluster: Any) -> None:
    cluster = make_cluster()
    proc = cluster.run("cancel", "99", check=False)
    assert proc.returncode == 2
    assert json.loads(proc.stdout) == {"error": "job 99 does not exist", "kind": "job"}
    proc = cluster.run("submit", stdin={"run": "true", "num_nodes": 3}, check=False)
    assert json.loads(proc.stdout)["kind"] == "job"


def test_client_maps_on_the_kind_not_the_words(make_cluster: Any, tmp_path: Path) -> None:
    cluster = make_cluster()
    client = _client(cluster)
    with pytest.raises(JobError) as job_err:
        client.call("cancel", "99")
    assert job_err.value.message == "cluster tc: job 99 does not exist"
    # A node with no agent set up, whose home path has "job" in it: a cluster problem.
    bare = tmp_path / "jobs" / "home"
    bare.mkdir(parents=True)
    runner = LocalRunner(bare, "bare-node", name="bare")
    with pytest.raises(ClusterError) as cluster_err:
        AgentClient(runner, str(cluster.pyz), sys.executable, "tc").submit([{"run": "true"}])
    assert not isinstance(cluster_err.value, JobError)
    assert cluster_err.value.message.startswith("cluster tc: agent not initialised")


def test_banner_lines_before_the_reply_are_skipped(make_cluster: Any) -> None:
    cluster = make_cluster()
    client = _client(cluster, BannerRunner)
    assert client.call("queue")["jobs"] == []
    chunks: list[bytes] = []
    job_id, status = client.submit_and_follow(
        {"name": "hello", "run": "echo from-the-job"}, write=chunks.append
    )
    assert status == "SUCCEEDED"
    assert cluster.job(job_id)["status"] == "SUCCEEDED"
    output = b"".join(chunks).decode()
    assert "from-the-job" in output
    assert "Welcome" not in output
    with pytest.raises(JobError, match="cannot fit"):
        client.submit_and_follow({"run": "true", "num_nodes": 3}, write=chunks.append)


def test_no_agent_reply_is_one_line_naming_the_node(make_cluster: Any) -> None:
    cluster = make_cluster()
    runner = BannerRunner(cluster.homes[0], "tc-node0", name="tc-head")
    client = AgentClient(runner, "/nonexistent/agent.pyz", sys.executable, "tc")
    with pytest.raises(ClusterError) as err:
        client.submit_and_follow({"run": "true"}, write=lambda chunk: None)
    assert "\n" not in err.value.message
    assert "node tc-head" in err.value.message
    assert "/nonexistent/agent.pyz" in err.value.message
