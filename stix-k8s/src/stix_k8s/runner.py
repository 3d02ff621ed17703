"""``KubeRunner``: runs commands in a pod through the exec API (a websocket), not SSH.

Files travel the same way: ``put`` streams the file into ``cat`` on the pod and ``sync``
streams a tar archive into ``tar -x``, both over the exec stream's stdin.
"""

from __future__ import annotations

import io
import shlex
import tarfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from stix.errors import ClusterError
from stix.runner.base import Runner, RunResult

_CHUNK = 1 << 20


def remote_command(argv: Sequence[str] | str, env: dict[str, str] | None) -> str:
    """Shell text run in the pod's home: ``env`` exported, ``~/`` arguments expanded."""
    if isinstance(argv, str):
        body = argv
    else:
        body = " ".join(
            f"~/{shlex.quote(a[2:])}" if a.startswith("~/") else shlex.quote(a) for a in argv
        )
    lines = ["cd ~ 2>/dev/null || true"]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in (env or {}).items()]
    lines.append(body)
    return "\n".join(lines)


class KubeRunner(Runner):
    """One pod of a cluster.

    :param context: kube context (``in-cluster`` inside a pod).
    :param namespace: the pod's namespace; ``pod`` its name.
    :param is_head: whether this pod runs the cluster's node agent.
    """

    def __init__(
        self, context: str, namespace: str, pod: str, *, is_head: bool, name: str | None = None
    ) -> None:
        self.context = context
        self.namespace = namespace
        self.pod = pod
        self.is_head = is_head
        self.name = name or pod

    # -- the exec stream ------------------------------------------------------------

    def open_stream(self, command: list[str], stdin: bool) -> Any:
        """An open exec stream (``WSClient``) running ``command`` in the pod."""
        from kubernetes.stream import stream

        from stix_k8s import contexts

        api = contexts.stream_api(self.context)
        try:
            return stream(
                api.connect_get_namespaced_pod_exec,
                self.pod,
                self.namespace,
                command=command,
                stdin=stdin,
                stdout=True,
                stderr=True,
                tty=False,
                binary=True,
                _preload_content=False,
            )
        except Exception as exc:
            reason = getattr(exc, "reason", None) or exc
            raise ClusterError(
                f"node {self.name}: exec into pod {self.pod} failed: {reason}"
            ) from None

    def exec(
        self,
        command: list[str],
        *,
        data: bytes | None = None,
        stream: Callable[[bytes], None] | None = None,
        timeout: float | None = None,
    ) -> tuple[int, bytes, bytes]:
        """Run ``command`` (an argv) in the pod; feed ``data`` to stdin, then close it.

        Only the v5 exec protocol can close stdin, so the command reads ``data`` through
        ``head -c <size>``: it sees the end of its input on v4 servers too.
        """
        if data is not None:
            command = ["/bin/sh", "-c", f"head -c {len(data)} | {shlex.join(command)}"]
        ws = self.open_stream(command, stdin=data is not None)
        out, err = bytearray(), bytearray()
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            if data is not None:
                for start in range(0, len(data), _CHUNK):
                    ws.write_stdin(data[start : start + _CHUNK])
                ws.close_channel(0)
            while ws.is_open():
                ws.update(timeout=1)
                chunk = ws.read_stdout(timeout=0) if ws.peek_stdout() else b""
                if chunk:
                    (stream or out.extend)(chunk)
                if ws.peek_stderr():
                    err.extend(ws.read_stderr(timeout=0))
                if deadline is not None and time.monotonic() > deadline:
                    raise ClusterError(f"node {self.name}: command timed out after {timeout:g} s")
            tail = ws.read_stdout(timeout=0) if ws.peek_stdout() else b""
            if tail:
                (stream or out.extend)(tail)
            if ws.peek_stderr():
                err.extend(ws.read_stderr(timeout=0))
            code = ws.returncode
        finally:
            ws.close()
        return (255 if code is None else int(code)), bytes(out), bytes(err)

    # -- the Runner contract ---------------------------------------------------------

    def run(
        self,
        argv: Sequence[str] | str,
        *,
        input: str | None = None,
        env: dict[str, str] | None = None,
        stream: Callable[[bytes], None] | None = None,
        timeout: float | None = None,
    ) -> RunResult:
        command = ["/bin/bash", "-c", remote_command(argv, env)]
        data = input.encode() if input is not None else None
        code, out, err = self.exec(command, data=data, stream=stream, timeout=timeout)
        return RunResult(code, out.decode(errors="replace"), err.decode(errors="replace"))

    def _checked(self, what: str, command: str, data: bytes) -> None:
        code, _, err = self.exec(["/bin/bash", "-c", command], data=data)
        if code != 0:
            raise ClusterError(
                f"node {self.name}: {what} failed: {err.decode(errors='replace').strip()}"
            )

    def put(self, source: Path, dest: str) -> None:
        path = remote_command([dest], None).splitlines()[-1]
        script = f'cd ~ && mkdir -p "$(dirname {path})" && cat > {path}'
        self._checked(f"copy {source.name}", script, Path(source).read_bytes())

    def sync(self, source: Path, dest: str, excludes: Sequence[str] = ()) -> None:
        from stix.backend.ignore import ignored

        source = Path(source).expanduser()
        if not source.exists():
            raise ClusterError(f"node {self.name}: cannot sync {source}: no such file or folder")
        if source.is_file():
            self.put(source, dest)
            return
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:

            def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
                rel = info.name.lstrip("./")
                if rel and ignored(rel, info.isdir(), excludes):
                    return None
                return info

            tar.add(str(source), arcname=".", filter=keep)
        path = remote_command([dest], None).splitlines()[-1]
        self._checked(
            f"sync {source}", f"cd ~ && mkdir -p {path} && tar -C {path} -xf -", buffer.getvalue()
        )

    def node_spec(self) -> dict[str, Any]:
        """The head runs commands on itself; a worker is reached by :mod:`stix_k8s.podexec`."""
        if self.is_head:
            return {"kind": "local"}
        source = (Path(__file__).parent / "podexec.py").read_text()
        return {
            "kind": "kubernetes",
            "name": self.name,
            "argv": ["python3", "-c", source, self.namespace, self.pod],
        }

    def ssh_host_block(self, alias: str) -> str:
        """An ssh ``Host`` entry for this pod: ``ProxyCommand`` runs ``sshd -i`` through exec.

        The cluster's own key (``$STIX_HOME/ssh/keys/<cluster>``) is authorized in the pod
        by the proxy on first use; the pod's host key is generated there.
        """
        import sys

        from stix.runner.ssh_keys import cluster_key, known_hosts_file

        from stix_k8s import contexts

        cluster = self.pod.rsplit("-", 1)[0]
        key = cluster_key(cluster)
        proxy = shlex.join(
            [sys.executable, "-m", "stix_k8s.proxy", self.context, self.namespace, self.pod,
             f"{key}.pub"]
        )  # fmt: skip
        user = contexts.setting(self.context, "ssh_user", "root")
        lines = [
            f"Host {alias}",
            f"  HostKeyAlias {self.namespace}.{self.pod}",
            f"  User {user}",
            f'  IdentityFile "{key}"',
            "  IdentitiesOnly yes",
            f'  UserKnownHostsFile "{known_hosts_file(cluster)}"',
            "  StrictHostKeyChecking accept-new",
            f"  ProxyCommand {proxy}",
        ]
        return "\n".join(lines) + "\n"

    def to_spec(self) -> dict[str, Any]:
        return {
            "kind": "kubernetes",
            "context": self.context,
            "namespace": self.namespace,
            "pod": self.pod,
            "is_head": self.is_head,
            "name": self.name,
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> KubeRunner:
        return cls(
            spec["context"], spec["namespace"], spec["pod"], is_head=bool(spec.get("is_head")),
            name=spec.get("name"),
        )  # fmt: skip
