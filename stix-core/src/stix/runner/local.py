"""``LocalRunner``: a node that is a folder on this machine (the ``local`` cloud's sandboxes).

Commands run as subprocesses with ``HOME`` set to the sandbox home and a marker variable
(``STIX_NODE_ID``) that lets the cloud find and stop every process of the node.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from stix.errors import ClusterError
from stix.runner.base import Runner, RunResult

NODE_MARKER = "STIX_NODE_ID"


class LocalRunner(Runner):
    """Runs commands inside one local sandbox node.

    :param home: the node's home folder (``~`` on the node).
    :param node_id: the value of ``STIX_NODE_ID`` given to every process of the node.
    """

    def __init__(self, home: Path, node_id: str, name: str | None = None) -> None:
        self.home = Path(home)
        self.node_id = node_id
        self.name = name or node_id

    def _env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        # A node has its own environment: the client's STIX settings do not leak in. Jobs
        # get less still: the agent's daemon keeps only this machine's basics (see
        # stix.agent.env.node_basics), so credentials used by setup commands stay out.
        for key in [k for k in env if k.startswith(("STIX_", "SKYPILOT_"))]:
            if key != "STIX_CGROUP":  # how this machine contains processes is the node's too
                env.pop(key)
        env["HOME"] = str(self.home)
        env[NODE_MARKER] = self.node_id
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        if extra:
            env.update(extra)
        return env

    def _check_home(self) -> None:
        if not self.home.is_dir():
            raise ClusterError(f"node {self.name}: sandbox {self.home} does not exist")

    def run(
        self,
        argv: Sequence[str] | str,
        *,
        input: str | None = None,
        env: dict[str, str] | None = None,
        stream: Callable[[bytes], None] | None = None,
        timeout: float | None = None,
    ) -> RunResult:
        self._check_home()
        if isinstance(argv, str):
            args = ["bash", "-c", argv]
        else:  # expand ``~/`` the way a remote shell would
            args = [str(self.home / a[2:]) if a.startswith("~/") else a for a in argv]
        from stix.agent import contain

        # Every process of the node lives in its cgroup (where the machine has one).
        args = contain.wrap(contain.group(self.node_id, "agent"), args)
        if stream is None:
            proc = subprocess.run(
                args,
                input=input,
                capture_output=True,
                text=True,
                cwd=self.home,
                env=self._env(env),
                timeout=timeout,
            )
            return RunResult(proc.returncode, proc.stdout, proc.stderr)
        with subprocess.Popen(
            args,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self.home,
            env=self._env(env),
        ) as popen:
            assert popen.stdout is not None and popen.stderr is not None
            if input is not None:
                assert popen.stdin is not None
                popen.stdin.write(input.encode())
                popen.stdin.close()
            fd = popen.stdout.fileno()
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                stream(chunk)
            err = popen.stderr.read().decode(errors="replace")
            code = popen.wait()
        return RunResult(code, "", err)

    def _dest(self, dest: str) -> Path:
        """``dest`` inside the sandbox (absolute paths map into it); never a way out.

        :raises ClusterError: ``dest`` climbs out with ``..`` or through a symlink.
        """
        from stix.storage.confine import inside

        try:
            return inside(self.home, dest)
        except ClusterError as exc:
            raise ClusterError(f"node {self.name}: {exc}") from None

    def put(self, source: Path, dest: str) -> None:
        self._check_home()
        target = self._dest(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        _replace_file(source, target)

    def sync(self, source: Path, dest: str, excludes: Sequence[str] = ()) -> None:
        self._check_home()
        target = self._dest(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        source = Path(source).expanduser()
        if not source.exists():
            raise ClusterError(f"node {self.name}: cannot sync {source}: no such file or folder")
        if source.is_file():
            _replace_file(source, target)
            return
        if target.is_symlink():
            target.unlink()  # a link planted on the node is replaced, never followed
        if shutil.which("rsync"):
            args = ["rsync", "-a"]
            args += [f"--exclude={pattern}" for pattern in excludes]
            proc = subprocess.run(
                [*args, f"{source}/", f"{target}/"], capture_output=True, text=True
            )
            if proc.returncode != 0:
                raise ClusterError(f"node {self.name}: rsync failed: {proc.stderr.strip()}")
            return
        from stix.backend.ignore import copy_tree

        copy_tree(source, target, excludes)  # like rsync above: files made on the node stay

    def node_spec(self) -> dict[str, Any]:
        return {"kind": "local", "home": str(self.home), "env": {NODE_MARKER: self.node_id}}

    def to_spec(self) -> dict[str, Any]:
        return {"kind": "local", "home": str(self.home), "node_id": self.node_id, "name": self.name}

    def python(self) -> str:
        return sys.executable


def _replace_file(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target``; a symlink at ``target`` is replaced, not written through."""
    if target.is_symlink():
        target.unlink()
    shutil.copy2(source, target)
