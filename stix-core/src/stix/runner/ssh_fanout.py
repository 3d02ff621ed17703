"""Run one command on many nodes at once, streaming each node's output with its name as prefix."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence

from stix.errors import ClusterError
from stix.runner.base import Runner, RunResult, run_parallel


class LinePrefixer:
    """Turns a node's byte chunks into whole lines prefixed with ``(name) ``, written atomically."""

    def __init__(self, name: str, write: Callable[[bytes], None], lock: threading.Lock) -> None:
        self.prefix = f"({name}) ".encode()
        self.write = write
        self.lock = lock
        self.buf = b""

    def __call__(self, chunk: bytes) -> None:
        self.buf += chunk
        if b"\n" not in self.buf:
            return
        done, self.buf = self.buf.rsplit(b"\n", 1)
        text = b"".join(self.prefix + line + b"\n" for line in done.split(b"\n"))
        with self.lock:
            self.write(text)

    def flush(self) -> None:
        if self.buf:
            with self.lock:
                self.write(self.prefix + self.buf + b"\n")
            self.buf = b""


def _stderr(data: bytes) -> None:
    sys.stderr.buffer.write(data)
    sys.stderr.buffer.flush()


def run_on_nodes(
    runners: Sequence[Runner],
    command: Sequence[str] | str,
    *,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    write: Callable[[bytes], None] | None = _stderr,
    check: bool = True,
) -> list[RunResult]:
    """Run ``command`` on every node in parallel; stream output as ``(node) line``.

    :param write: where prefixed output goes (default stderr); ``None`` captures it instead.
    :param check: raise :class:`ClusterError` naming every node whose command failed.
    :returns: one result per runner, in order.
    """
    lock = threading.Lock()

    def one(runner: Runner) -> RunResult:
        if write is None:
            return runner.run(command, env=env, timeout=timeout)
        prefixer = LinePrefixer(runner.name, write, lock)
        try:
            return runner.run(command, env=env, timeout=timeout, stream=prefixer)
        finally:
            prefixer.flush()

    results: list[RunResult] = run_parallel(one, list(runners))
    if check:
        failed = [(r.name, res) for r, res in zip(runners, results, strict=True) if not res.ok]
        if failed:
            shown = command if isinstance(command, str) else " ".join(command)
            parts = []
            for name, res in failed:
                last = (res.stderr or res.stdout).strip().splitlines()
                parts.append(f"{name} (exit {res.returncode}{': ' + last[-1] if last else ''})")
            raise ClusterError(f"{' '.join(shown.split())[:80]!r} failed on {', '.join(parts)}")
    return results
