"""Run one shell command in another pod through the exec API, using only the stdlib.

The head pod's node agent reaches worker pods with this script (as ``python3 -c``):
``podexec.py NAMESPACE POD COMMAND`` runs ``/bin/sh -c COMMAND`` in the pod's first
container, copies its stdout and stderr here, and exits with its exit code. It speaks
the exec websocket (subprotocol ``v4.channel.k8s.io``: one channel byte, then data;
channel 3 carries the final status) and authenticates with the pod's service account:
the token and CA under ``/var/run/secrets/kubernetes.io/serviceaccount`` (or
``$STIX_K8S_SA_DIR``), the API at ``https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT``
(or ``$STIX_K8S_API``). ``podexec.py --delete-self`` deletes the pod it runs in
(autodown: the head owns every other object of its cluster).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import struct
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def _api() -> str:
    url = os.environ.get("STIX_K8S_API")
    if url:
        return url.rstrip("/")
    host = os.environ.get("KUBERNETES_SERVICE_HOST", "kubernetes.default.svc")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if ":" in host:
        host = f"[{host}]"
    return f"https://{host}:{port}"


def _connect(url: str, path: str, token: str, ca_file: str) -> _Buffered:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    sock = socket.create_connection((parts.hostname, port), timeout=30)
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=ca_file if os.path.isfile(ca_file) else None)
        sock = context.wrap_socket(sock, server_hostname=parts.hostname)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Protocol: v4.channel.k8s.io",
    ]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise OSError("connection closed during the websocket handshake")
        head += chunk
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    if " 101 " not in status + " ":
        body = head.split(b"\r\n\r\n", 1)[1].decode(errors="replace")
        raise OSError(f"exec refused: {status} {body.strip()[:300]}")
    sock.settimeout(None)
    return _Buffered(sock, head.split(b"\r\n\r\n", 1)[1])


class _Buffered:
    """A socket whose first bytes were already read with the handshake."""

    def __init__(self, sock: socket.socket, rest: bytes) -> None:
        self.sock = sock
        self.rest = rest

    def read(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            if self.rest:
                take, self.rest = self.rest[: n - len(out)], self.rest[n - len(out) :]
                out += take
                continue
            chunk = self.sock.recv(max(65536, n - len(out)))
            if not chunk:
                raise EOFError
            self.rest = chunk
        return out

    def send_close(self) -> None:
        mask = os.urandom(4)
        try:
            self.sock.sendall(bytes([0x88, 0x80]) + mask)
        except OSError:
            pass


def _frames(conn: _Buffered) -> Iterator[tuple[int, bytes]]:
    """Yield (opcode, payload) of each server frame (reassembling fragments)."""
    message = b""
    opcode = 0
    while True:
        b1, b2 = conn.read(2)
        length = b2 & 0x7F
        if length == 126:
            length = struct.unpack(">H", conn.read(2))[0]
        elif length == 127:
            length = struct.unpack(">Q", conn.read(8))[0]
        mask = conn.read(4) if b2 & 0x80 else None
        data = conn.read(length) if length else b""
        if mask:
            data = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
        op = b1 & 0x0F
        if op >= 8:
            yield op, data
            continue
        if op:
            opcode = op
        message += data
        if b1 & 0x80:
            yield opcode, message
            message = b""


def exit_code(status: dict[str, Any]) -> int:
    """The command's exit code from the status document of channel 3."""
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            return int(cause.get("message", 1))
    sys.stderr.write(f"podexec: {status.get('message') or status}\n")
    return 1


def delete_self() -> int:
    """Delete this pod (``$STIX_K8S_NAMESPACE``/``$STIX_K8S_POD``); its dependents follow."""
    import urllib.request

    namespace, pod = os.environ.get("STIX_K8S_NAMESPACE"), os.environ.get("STIX_K8S_POD")
    if not namespace or not pod:
        sys.stderr.write("podexec: STIX_K8S_NAMESPACE and STIX_K8S_POD must be set\n")
        return 2
    token, ca_file = _credentials()
    url = f"{_api()}/api/v1/namespaces/{namespace}/pods/{pod}?propagationPolicy=Background"
    request = urllib.request.Request(
        url, method="DELETE", headers={"Authorization": f"Bearer {token}"}
    )
    context = None
    if url.startswith("https"):
        context = ssl.create_default_context(cafile=ca_file if os.path.isfile(ca_file) else None)
    try:
        with urllib.request.urlopen(request, timeout=60, context=context) as reply:
            reply.read()
    except OSError as exc:
        sys.stderr.write(f"podexec: cannot delete pod {namespace}/{pod}: {exc}\n")
        return 1
    return 0


def _credentials() -> tuple[str, str]:
    """The service account token and CA file of this pod."""
    sa_dir = os.environ.get("STIX_K8S_SA_DIR", SA_DIR)
    token_file = os.path.join(sa_dir, "token")
    token = ""
    if os.path.isfile(token_file):
        with open(token_file) as fh:
            token = fh.read().strip()
    return token, os.path.join(sa_dir, "ca.crt")


def main() -> int:
    if sys.argv[1:] == ["--delete-self"]:
        return delete_self()
    if len(sys.argv) != 4:
        sys.stderr.write("usage: podexec NAMESPACE POD COMMAND\n")
        return 2
    namespace, pod, command = sys.argv[1:]
    token, ca_file = _credentials()
    query = "&".join(
        [f"command={quote(c, safe='')}" for c in ("/bin/sh", "-c", command)]
        + ["stdout=true", "stderr=true"]
    )
    path = f"/api/v1/namespaces/{namespace}/pods/{pod}/exec?{query}"
    try:
        conn = _connect(_api(), path, token, ca_file)
    except OSError as exc:
        sys.stderr.write(f"podexec: {namespace}/{pod}: {exc}\n")
        return 255
    code = 255
    try:
        for opcode, data in _frames(conn):
            if opcode == 8:
                break
            if opcode not in (1, 2) or not data:
                continue
            channel, payload = data[0], data[1:]
            if channel == 1:
                sys.stdout.buffer.write(payload)
                sys.stdout.buffer.flush()
            elif channel == 2:
                sys.stderr.buffer.write(payload)
                sys.stderr.buffer.flush()
            elif channel == 3 and payload:
                code = exit_code(json.loads(payload.decode()))
    except EOFError:
        pass
    conn.send_close()
    return code


if __name__ == "__main__":
    sys.exit(main())
