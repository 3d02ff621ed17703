"""``ssh <cluster>`` into a pod: an ssh ProxyCommand that tunnels through the exec API.

``python -m stix_k8s.proxy CONTEXT NAMESPACE POD PUBLIC_KEY_FILE`` first makes sure the
pod has a host key, the cluster's public key in ``~/.ssh/authorized_keys`` and an sshd
config, then runs ``sshd -i`` (inetd mode: the SSH protocol on its stdin and stdout) in
the pod and copies bytes between it and ssh. No port is opened on the pod.
"""

from __future__ import annotations

import os
import shlex
import sys
import threading
from pathlib import Path

from stix.sshd_inline import EXEC, config_heredoc

SETUP = r"""
set -e
d="$HOME/.stix_agent/sshd"
mkdir -p "$d" "$HOME/.ssh" /run/sshd 2>/dev/null || mkdir -p "$d" "$HOME/.ssh"
chmod 700 "$HOME/.ssh"
[ -f "$d/host_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$d/host_key"
touch "$HOME/.ssh/authorized_keys"
grep -qxF "$KEY" "$HOME/.ssh/authorized_keys" || printf '%s\n' "$KEY" >> "$HOME/.ssh/authorized_keys"
""" + config_heredoc(
    "SetEnv STIX_K8S_POD=${STIX_K8S_POD:-none} STIX_K8S_NAMESPACE=${STIX_K8S_NAMESPACE:-none}"
)
SSHD = EXEC


def tunnel(context: str, namespace: str, pod: str, public_key: str) -> int:
    """Prepare the pod and relay ssh's stdin/stdout to ``sshd -i`` in it."""
    from stix_k8s.runner import KubeRunner

    runner = KubeRunner(context, namespace, pod, is_head=False)
    setup = f"KEY={shlex.quote(public_key)}\n{SETUP}"
    code, _, err = runner.exec(["/bin/sh", "-c", setup])
    if code != 0:
        sys.stderr.write(f"stix: cannot prepare sshd in pod {pod}: {err.decode(errors='replace')}")
        return 255
    ws = runner.open_stream(["/bin/sh", "-c", SSHD], stdin=True)

    def feed() -> None:
        fd = sys.stdin.fileno()
        while True:
            data = os.read(fd, 65536)
            if not data:
                ws.close_channel(0)
                return
            ws.write_stdin(data)

    threading.Thread(target=feed, daemon=True).start()
    out = sys.stdout.buffer
    while True:
        ws.update(timeout=1)
        if ws.peek_stdout():
            out.write(ws.read_stdout(timeout=0))
            out.flush()
        if ws.peek_stderr():
            sys.stderr.buffer.write(ws.read_stderr(timeout=0))
            sys.stderr.buffer.flush()
        if not ws.is_open():
            break
    code = ws.returncode
    ws.close()
    return 0 if code is None else int(code)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 4:
        sys.stderr.write("usage: python -m stix_k8s.proxy CONTEXT NAMESPACE POD PUBLIC_KEY_FILE\n")
        return 2
    context, namespace, pod, key_file = args
    return tunnel(context, namespace, pod, Path(key_file).read_text().strip())


if __name__ == "__main__":
    sys.exit(main())
