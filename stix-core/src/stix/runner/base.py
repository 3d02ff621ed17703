"""The ``Runner`` interface shared by every way of reaching a node, plus parallel fan-out."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import attrs

T = TypeVar("T")


@attrs.frozen
class RunResult:
    """Exit code and captured output of one command on one node."""

    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Runner(abc.ABC):
    """Runs commands on one node. ``name`` identifies the node in error messages."""

    name: str

    @abc.abstractmethod
    def run(
        self,
        argv: Sequence[str] | str,
        *,
        input: str | None = None,
        env: dict[str, str] | None = None,
        stream: Callable[[bytes], None] | None = None,
        timeout: float | None = None,
    ) -> RunResult:
        """Run ``argv`` (a list, or a shell string run by bash) in the node's home.

        :param input: text fed to stdin.
        :param stream: when given, stdout chunks go to it as they arrive (not captured).
        """

    @abc.abstractmethod
    def put(self, source: Path, dest: str) -> None:
        """Copy one local file to ``dest`` on the node (``~`` is the node's home)."""

    @abc.abstractmethod
    def sync(self, source: Path, dest: str, excludes: Sequence[str] = ()) -> None:
        """Make ``dest`` on the node mirror local folder or file ``source``, minus ``excludes``."""

    @abc.abstractmethod
    def node_spec(self) -> dict[str, Any]:
        """How the head node runs commands on this node (the agent's ``exec`` entry)."""

    @abc.abstractmethod
    def to_spec(self) -> dict[str, Any]:
        """A JSON-able description from which :func:`runner_from_spec` rebuilds this runner."""

    def python(self) -> str:
        """The Python interpreter to run the agent with on this node."""
        return "python3"


def runner_from_spec(spec: dict[str, Any]) -> Runner:
    """Rebuild a runner saved with :meth:`Runner.to_spec`.

    Kinds ``local``, ``ssh`` and ``container`` (a docker image on a VM) are the core's;
    any other kind names the cloud whose provisioner made the runner, and its
    ``runner_from_spec`` rebuilds it (pod exec runners of ``kubernetes``, for example).
    """
    kind = spec.get("kind")
    if kind == "local":
        from stix.runner.local import LocalRunner

        return LocalRunner(Path(spec["home"]), spec["node_id"], name=spec.get("name"))
    if kind == "ssh":
        from stix.runner.ssh import SshRunner

        return SshRunner.from_spec(spec)
    if kind == "container":
        from stix.runner.container import ContainerRunner

        return ContainerRunner.from_spec(spec)
    from stix.errors import ClusterError, StixError

    runner = None
    if isinstance(kind, str) and kind:
        from stix.plugins import get_registry

        try:
            runner = get_registry().provisioner(kind).runner_from_spec(spec)
        except StixError:
            runner = None
    if runner is None:
        raise ClusterError(f"no command runner of kind {kind!r} is available")
    return runner


def run_parallel(fn: Callable[[T], Any], items: Sequence[T]) -> list[Any]:
    """Call ``fn`` on every item at once (one thread each); re-raise the first error."""
    if len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(32, len(items))) as pool:
        return list(pool.map(fn, items))
