"""Helpers of the serve end-to-end tests: a shared STIX home with a serve controller,
service YAMLs running ``serve_app.py``, a client that hammers an endpoint, and checks
on the processes left behind."""

from __future__ import annotations

import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

APP = Path(__file__).with_name("serve_app.py")

# Controller knobs that make scaling decisions fast enough for tests.
FAST_CONFIG = {
    "serve": {
        "autoscaler": {"decision_interval_seconds": 1, "qps_window_seconds": 3},
        "replica_check_interval_seconds": 5,
        "controller": {"idle_exit_seconds": 600},
    }
}


def service_yaml(
    folder: Path,
    name: str,
    *,
    service: dict[str, Any] | None = None,
    envs: dict[str, str] | None = None,
    resources: dict[str, Any] | None = None,
) -> Path:
    """A task whose replicas run the test app on port 8080 of their own loopback address."""
    spec = {
        "readiness_probe": {
            "path": "/health",
            "initial_delay_seconds": 60,
            "endpoint_probe_interval_seconds": 1,
        },
        "replicas": 2,
        **(service or {}),
    }
    task = {
        "name": name,
        "service": spec,
        "resources": {"ports": 8080, **(resources or {})},
        "envs": envs or {},
        "run": f'exec python3 {APP} "$(echo "$SKYPILOT_NODE_IPS" | head -n1)" 8080',
    }
    path = folder / f"{name}-{time.monotonic_ns()}.yaml"
    path.write_text(yaml.safe_dump(task))
    return path


def get(url: str, timeout: float = 10, context: Any = None) -> tuple[int, str]:
    """(status, body) of a GET; status 0 with the error text when the request failed."""
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except OSError as exc:
        return 0, f"{type(exc).__name__}: {exc}"


class Hammer:
    """Threads sending GETs to ``url`` back to back until stopped; every answer is kept."""

    def __init__(self, url: str, threads: int = 2, pause: float = 0.02) -> None:
        self.url, self.pause = url, pause
        self.results: list[tuple[float, int, str]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        while not self._stop.is_set():
            status, body = get(self.url)
            self.results.append((time.monotonic(), status, body))
            if self.pause:
                time.sleep(self.pause)

    def __enter__(self) -> Hammer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)

    def failures(self) -> list[tuple[float, int, str]]:
        return [r for r in self.results if r[1] != 200]


def poll(check: Callable[[], Any], timeout: float, what: str, every: float = 1.0) -> Any:
    """Call ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def node_processes(root: Path) -> list[int]:
    """Pids of live processes of any local node under ``root`` (by their node marker)."""
    needle = f"STIX_NODE_ID={root}".encode()
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            env = Path(f"/proc/{entry.name}/environ").read_bytes()
            state = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X") and any(v.startswith(needle) for v in env.split(b"\0")):
            pids.append(int(entry.name))
    return pids


def controller_home(stix_home: Path) -> Path:
    """The controller node's own ``$STIX_HOME`` (where its replica clusters are recorded)."""
    found = list((stix_home / "local").glob("*/node-0/home/.stix"))
    assert len(found) == 1, found
    return found[0]


def live(service: dict[str, Any]) -> list[dict[str, Any]]:
    """Replicas of a status entry that still have (or are getting) a cluster."""
    from stix_serve.states import TERMINAL

    return [r for r in service["replicas"] if r["status"] not in TERMINAL]


def down_everything() -> None:
    """Every service down (purged), then the controller cluster itself."""
    from stix import sdk as core
    from stix.errors import StixError
    from stix_serve import sdk

    try:
        sdk.down(all=True, purge=True, timeout=60)
    finally:
        try:
            core.down(sdk.controller_name(), purge=True)
        except StixError:
            pass
