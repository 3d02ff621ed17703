"""Wire-level pieces of ``FakeKubeApi``: selectors, merge patches, the exec stream, kubeconfigs.

Shapes follow the Kubernetes API reference (label/field selector syntax, JSON merge
patch, exec over ``v5``/``v4.channel.k8s.io``: a channel byte then data; channel 3
carries the final ``Status``; v5 adds channel 255 to close stdin).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from k8s_httpfake import WebSocket


def labels_match(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


def field(obj: dict[str, Any], path: str) -> Any:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def fields_match(obj: dict[str, Any], selector: str) -> bool:
    for term in filter(None, selector.split(",")):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if str(field(obj, key)) == value:
                return False
        else:
            key, _, value = term.partition("=")
            if str(field(obj, key)) != value:
                return False
    return True


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge_patch(target[key], value)
        else:
            target[key] = value


def write_kubeconfig(path: Path, entries: list[dict[str, Any]], current: str) -> Path:
    """A kubeconfig made of :meth:`FakeKubeApi.context_entry` parts."""
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "current-context": current}
    for key in ("clusters", "users", "contexts"):
        doc[key] = [item for entry in entries for item in entry[key]]
    path.write_text(json.dumps(doc))
    return path


def run_exec(ws: WebSocket, command: list[str], env: dict[str, str], stdin: bool, v5: bool) -> None:
    try:
        proc = subprocess.Popen(command, cwd=env["HOME"], env=env,
                                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    except OSError as exc:
        status = {"metadata": {}, "status": "Failure", "message": f"exec failed: {exc}",
                  "reason": "InternalError"}  # fmt: skip
        ws.send(b"\x03" + json.dumps(status).encode())
        ws.close()
        return

    def pump(stream: Any, channel: int) -> None:
        for chunk in iter(lambda: os.read(stream.fileno(), 65536), b""):
            ws.send(bytes([channel]) + chunk)

    def feed() -> None:
        assert proc.stdin is not None
        while True:
            message = ws.receive()
            if message is None:
                break
            data = message[1]
            if v5 and data[:1] == b"\xff":
                break
            if data[:1] == b"\x00" and len(data) > 1:
                try:
                    proc.stdin.write(data[1:])
                    proc.stdin.flush()
                except OSError:
                    break
        try:
            proc.stdin.close()
        except OSError:
            pass

    pumps = [threading.Thread(target=pump, args=(proc.stdout, 1), daemon=True),
             threading.Thread(target=pump, args=(proc.stderr, 2), daemon=True)]  # fmt: skip
    if stdin:
        threading.Thread(target=feed, daemon=True).start()
    for thread in pumps:
        thread.start()
    code = proc.wait()
    for thread in pumps:
        thread.join(timeout=30)
    if code == 0:
        status = {"metadata": {}, "status": "Success"}
    else:
        status = {"metadata": {}, "status": "Failure", "message": f"command terminated with exit code {code}",
                  "reason": "NonZeroExitCode",
                  "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}  # fmt: skip
    ws.send(b"\x03" + json.dumps(status).encode())
    time.sleep(0.05)
    ws.close()


def write_config(stix_home: Path, text: str) -> None:
    """Write ``~/.stix/config.yaml`` for this test."""
    (stix_home / "config.yaml").write_text(text)
