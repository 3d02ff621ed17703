"""``AgentClient``: calls the head node's agent through a runner and decodes its JSON replies."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from stix.errors import ClusterError, JobError
from stix.runner.base import Runner

STATUS_MARK = "STIX-JOB-STATUS "


class AgentClient:
    """The client side of the agent protocol (see :mod:`stix.agent.cli`).

    :param runner: runs commands on the head node.
    :param agent_path: the agent zipapp on the head (``~/.stix_agent/agent-*.pyz``).
    :param cluster: cluster name for error messages.
    """

    def __init__(self, runner: Runner, agent_path: str, python: str, cluster: str) -> None:
        self.runner = runner
        self.agent_path = agent_path
        self.python = python
        self.cluster = cluster

    def _argv(self, *args: str) -> list[str]:
        return [self.python, "-S", self.agent_path, *args]

    def call(self, *args: str, stdin: Any = None) -> Any:
        """Run one subcommand and return its JSON reply."""
        data = None if stdin is None else json.dumps(stdin)
        result = self.runner.run(self._argv(*args), input=data)
        reply = _last_reply(result.stdout)
        if isinstance(reply, dict) and "error" in reply:
            raise self._refused(reply)
        if result.returncode != 0 or reply is None:
            detail = (result.stderr or result.stdout).strip().splitlines()
            last = detail[-1] if detail else f"exit code {result.returncode}"
            raise ClusterError(
                f"cluster {self.cluster}: the node agent failed ({' '.join(args[:1])}): {last}",
                hint=f"stix status --refresh {self.cluster}",
            )
        return reply

    def _refused(self, reply: dict[str, Any]) -> ClusterError | JobError:
        """The error for an agent's ``{"error": ..., "kind": ...}`` reply."""
        message = f"cluster {self.cluster}: {reply['error']}"
        if reply.get("kind") == "job":
            return JobError(message)
        return ClusterError(message)

    def submit(self, specs: list[dict[str, Any]]) -> list[int]:
        """Queue jobs; return their ids."""
        return list(self.call("submit", stdin={"jobs": specs})["job_ids"])

    def submit_and_follow(
        self, spec: dict[str, Any], write: Callable[[bytes], None] | None = None
    ) -> tuple[int, str | None]:
        """Queue one job and stream its log until it ends; return (job id, final status)."""
        write = write or _stdout
        state: dict[str, Any] = {"buf": b"", "job_id": None, "skipped": []}

        def on_chunk(chunk: bytes) -> None:
            if state["job_id"] is None:
                state["buf"] += chunk
                # Lines before the reply (a login banner, say) are not the agent's: skip them.
                while state["job_id"] is None and b"\n" in state["buf"]:
                    first, state["buf"] = state["buf"].split(b"\n", 1)
                    reply = _reply_line(first)
                    if reply is None or not ("error" in reply or "job_ids" in reply):
                        state["skipped"] = [*state["skipped"][-9:], first]
                    elif "error" in reply:
                        state["error"] = reply
                        state["job_id"] = -1
                    else:
                        state["job_id"] = reply["job_ids"][0]
                if state["job_id"] is None:
                    return
                chunk, state["buf"] = state["buf"], b""
            if chunk and state["job_id"] != -1:
                write(chunk)

        result = self.runner.run(
            self._argv("submit", "--follow"), input=json.dumps({"jobs": [spec]}), stream=on_chunk
        )
        if state.get("error"):
            raise self._refused(state["error"])
        if state["job_id"] is None:
            lines = [*state["skipped"], state["buf"]]
            output = [b.decode(errors="replace").strip() for b in lines]
            detail = result.stderr.strip().splitlines() or [o for o in output if o]
            last = detail[-1] if detail else f"exit code {result.returncode}"
            node = getattr(self.runner, "name", None) or "the head node"
            raise ClusterError(
                f"cluster {self.cluster}: submit on node {node} gave no agent reply: {last}",
                hint=f"stix status --refresh {self.cluster}",
            )
        job_id = int(state["job_id"])
        final = _final_status(result.stderr)
        if final is None:
            raise self._gone(job_id, result.stderr)
        return job_id, final

    def _gone(self, job_id: int | None, stderr: str) -> ClusterError:
        """The error for a log stream cut before the job's end (the cluster went away)."""
        lines = [ln for ln in stderr.strip().splitlines() if not ln.startswith(STATUS_MARK)]
        why = f": {lines[-1]}" if lines else ""
        job = f"job {job_id}" if job_id is not None else "the job"
        return ClusterError(
            f"cluster {self.cluster} went away while following {job} (stopped or torn down?){why}",
            hint=f"stix status {self.cluster}",
        )

    def follow(
        self,
        job_id: int | None,
        *,
        follow: bool = True,
        tail: int = 0,
        write: Callable[[bytes], None] | None = None,
    ) -> tuple[int | None, str | None]:
        """Stream a job's log; return (job id, final status)."""
        args = ["logs"]
        if job_id is not None:
            args.append(str(job_id))
        if follow:
            args.append("--follow")
        if tail:
            args += ["--tail", str(tail)]
        result = self.runner.run(self._argv(*args), stream=write or _stdout)
        mark = _final_mark(result.stderr)
        if mark is None and follow:  # the stream was cut before the end
            raise self._gone(job_id, result.stderr)
        if mark is None:
            raise ClusterError(f"cluster {self.cluster}: cannot read logs: {result.stderr.strip()}")
        return mark.get("job_id"), mark.get("status")


def _reply_line(line: bytes | str) -> dict[str, Any] | None:
    """The agent's JSON reply on ``line``, or ``None`` when the line is something else."""
    text = (line.decode(errors="replace") if isinstance(line, bytes) else line).strip()
    if not text.startswith("{"):
        return None
    try:
        reply = json.loads(text)
    except ValueError:
        return None
    return reply if isinstance(reply, dict) else None


def _last_reply(stdout: str) -> dict[str, Any] | None:
    """The last JSON reply in ``stdout`` (lines around it that are not JSON are ignored)."""
    for line in reversed(stdout.strip().splitlines()):
        reply = _reply_line(line)
        if reply is not None:
            return reply
    return None


def _stdout(chunk: bytes) -> None:
    sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()


def _final_mark(stderr: str) -> dict[str, Any] | None:
    for line in reversed(stderr.splitlines()):
        if line.startswith(STATUS_MARK):
            return dict(json.loads(line[len(STATUS_MARK) :]))
    return None


def _final_status(stderr: str) -> str | None:
    mark = _final_mark(stderr)
    return mark.get("status") if mark else None
