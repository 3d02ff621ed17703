"""SSH connections for :class:`stix.runner.ssh.SshRunner`: fabric, reused, host keys per cluster.

Host keys are checked against the cluster's own known-hosts file: a key seen for the
first time is recorded there (``accept-new``), a changed key is refused. The user's
``~/.ssh/config`` and global known-hosts file are never read or written. Connecting
retries while a node refuses connections (it is still booting).
"""

from __future__ import annotations

import fcntl
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from stix.errors import ClusterError

if TYPE_CHECKING:
    import fabric
    import paramiko


@attrs.frozen
class SshTarget:
    """How to log into one node.

    :param host: address the client connects to.
    :param user: login name.
    :param key: private key file (``None``: the ssh agent / default keys).
    :param known_hosts: the cluster's known-hosts file.
    :param name: the node's name in messages (``mycluster-worker1``).
    :param proxy_jump: ``[user@]host[:port]`` of a jump host, or ``None``.
    """

    host: str
    user: str
    port: int = 22
    key: str | None = None
    known_hosts: str = "~/.stix/ssh/known_hosts"
    name: str = ""
    proxy_jump: str | None = None

    @property
    def label(self) -> str:
        return self.name or f"{self.user}@{self.host}"

    def jump(self) -> SshTarget | None:
        """The jump host as a target (same key and known hosts), or ``None`` without one."""
        if not self.proxy_jump:
            return None
        user, _, rest = self.proxy_jump.rpartition("@")
        host, _, port = rest.partition(":")
        return attrs.evolve(
            self, host=host, user=user or self.user, port=int(port or 22), proxy_jump=None
        )


def _known_hosts_entry(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def _accept_new_policy(path: Path) -> Any:
    """A paramiko policy recording unknown host keys in ``path`` (never overwriting one)."""
    import paramiko

    class AcceptNew(paramiko.MissingHostKeyPolicy):
        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a+") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                fh.seek(0)
                known = paramiko.HostKeys()
                for line in fh.read().splitlines():
                    entry = paramiko.hostkeys.HostKeyEntry.from_line(line)
                    if entry is not None:
                        for name in entry.hostnames:
                            known.add(name, entry.key.get_name(), entry.key)
                recorded = known.lookup(hostname) or {}
                same = recorded.get(key.get_name())
                if same is not None and same != key:
                    raise paramiko.BadHostKeyException(hostname, key, same)
                if same is None:
                    fh.seek(0, 2)
                    fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
            client.get_host_keys().add(hostname, key.get_name(), key)

    return AcceptNew()


def _new_connection(target: SshTarget, connect_timeout: float) -> fabric.Connection:
    try:
        import fabric
    except ImportError as exc:
        raise ClusterError(
            f"node {target.label}: reaching nodes over SSH needs the 'fabric' package",
            hint="pip install 'fabric>=3.2'",
        ) from exc

    config = fabric.Config(lazy=True)
    kwargs: dict[str, Any] = {"allow_agent": target.key is None, "look_for_keys": False}
    if target.key:
        kwargs["key_filename"] = [str(Path(target.key).expanduser())]
    gateway = None
    jump = target.jump()
    if jump is not None:
        name = f"{target.label} (jump host {target.proxy_jump})"
        gateway = _new_connection(attrs.evolve(jump, name=name), connect_timeout)
    conn = fabric.Connection(
        target.host,
        user=target.user,
        port=target.port,
        config=config,
        connect_timeout=int(connect_timeout),
        connect_kwargs=kwargs,
        gateway=gateway,
    )
    known = Path(target.known_hosts).expanduser()
    if known.exists():
        conn.client.load_host_keys(str(known))
    conn.client.set_missing_host_key_policy(_accept_new_policy(known))
    return conn


# Errors that mean "not reachable yet" while a node boots.
def _transient(exc: BaseException) -> bool:
    import paramiko

    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        return True
    if isinstance(exc, (ConnectionRefusedError, ConnectionResetError, socket.timeout, EOFError)):
        return True
    if isinstance(exc, paramiko.SSHException) and not isinstance(
        exc, (paramiko.AuthenticationException, paramiko.BadHostKeyException)
    ):
        return "banner" in str(exc).lower() or "reset" in str(exc).lower()
    return False


def describe_error(exc: BaseException) -> str:
    """A one-line reason for a failed connection, for messages and ``stix check``."""
    import paramiko

    if isinstance(exc, paramiko.BadHostKeyException):
        return (
            f"host key changed for {exc.hostname} (expected {exc.expected_key.get_name()} "
            f"{exc.expected_key.get_base64()[:16]}...); refusing to connect"
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return f"authentication failed ({exc})"
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        return "connection refused"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "connection timed out"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc})"
    return str(exc) or type(exc).__name__


class ConnectionPool:
    """One open fabric connection per target, reused by every command on that node."""

    def __init__(self) -> None:
        self._conns: dict[SshTarget, fabric.Connection] = {}
        self._locks: dict[SshTarget, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, target: SshTarget) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(target, threading.Lock())

    def get(
        self, target: SshTarget, *, connect_timeout: float = 10.0, boot_timeout: float = 0.0
    ) -> fabric.Connection:
        """An open connection to ``target``; retry refused connections for ``boot_timeout`` s.

        Targets that differ only in their display name share one connection.

        :raises ClusterError: naming the node and the reason when it cannot connect.
        """
        named, target = target, attrs.evolve(target, name="")
        with self._lock(target):
            conn = self._conns.get(target)
            if conn is not None and conn.is_connected:
                return conn
            deadline = time.monotonic() + boot_timeout
            delay = 0.1
            while True:
                conn = _new_connection(named, connect_timeout)
                try:
                    conn.open()
                    assert conn.transport is not None
                    conn.transport.set_keepalive(15)
                    self._conns[target] = conn
                    return conn
                except Exception as exc:
                    _close(conn)
                    if _transient(exc) and time.monotonic() + delay < deadline:
                        time.sleep(delay)
                        delay = min(delay * 2, 2.0)
                        continue
                    where = f"{target.user}@{target.host}:{target.port}"
                    raise ClusterError(
                        f"node {named.label}: cannot connect over SSH to {where}: "
                        f"{describe_error(exc)}",
                        hint=_hint(exc, target),
                    ) from exc

    def drop(self, target: SshTarget) -> None:
        """Close and forget the connection to ``target`` (after it broke)."""
        target = attrs.evolve(target, name="")
        with self._guard:
            conn = self._conns.pop(target, None)
        if conn is not None:
            _close(conn)

    def close_all(self) -> None:
        with self._guard:
            conns = list(self._conns.values())
            self._conns.clear()
        for conn in conns:
            _close(conn)


def _close(conn: fabric.Connection) -> None:
    """Close ``conn`` and its jump host connection (fabric leaves a gateway open)."""
    conn.close()
    if conn.gateway is not None and not isinstance(conn.gateway, str):
        _close(conn.gateway)


def _hint(exc: BaseException, target: SshTarget) -> str | None:
    import paramiko

    if isinstance(exc, paramiko.AuthenticationException):
        key = target.key or "your ssh agent"
        return f"check that {key} is authorised for {target.user} on {target.host}"
    if isinstance(exc, paramiko.BadHostKeyException):
        return f"if the machine was reinstalled, remove its line from {target.known_hosts}"
    return None


POOL = ConnectionPool()


def sftp(conn: fabric.Connection) -> paramiko.SFTPClient:
    """An SFTP session on an open connection."""
    return conn.sftp()


__all__ = ["POOL", "ConnectionPool", "SshTarget", "describe_error"]
