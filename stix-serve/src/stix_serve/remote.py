"""What ``stix serve`` runs on the controller node: ``python -m stix_serve.remote OP``.

Each operation reads a JSON request on stdin, changes or reads the controller's
database, and prints one JSON reply on stdout (``{"error": ...}`` on a refusal). The
controller process notices the changes on its next tick.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

from stix_serve.store import ServeStore

LB_PORTS = range(30001, 30100)


class Refused(Exception):
    """A request the controller turns down; the message goes back to the user."""


def _free_port(store: ServeStore, host: str) -> int:
    used = store.used_ports()
    for port in LB_PORTS:
        if port in used:
            continue
        with socket.socket() as sock:
            # as the load balancer binds: a port left in TIME_WAIT is free to take
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError:
                continue
        return port
    raise Refused(f"no free load balancer port in {LB_PORTS.start}-{LB_PORTS.stop - 1}")


def op_ping(store: ServeStore, request: dict[str, Any]) -> dict[str, Any]:
    from stix_serve.controller import is_running

    return {"running": is_running()}


def op_up(store: ServeStore, request: dict[str, Any]) -> dict[str, Any]:
    name = request["name"]
    existing = store.service(name)
    if existing is not None:
        raise Refused(
            f"service {name!r} already exists ({existing['status']})"
            + ("; it is shutting down, try again shortly" if existing["down_requested"] else "")
        )
    host = request["host"]
    port = _free_port(store, host)
    scheme = "https" if request.get("tls") else "http"
    endpoint = f"{scheme}://{request['endpoint_host']}:{port}"
    store.add_service(name, host=host, port=port, endpoint=endpoint, tls=request.get("tls"))
    version = store.add_version(name, request["task"], request["spec"])
    return {"name": name, "endpoint": endpoint, "version": version}


def op_update(store: ServeStore, request: dict[str, Any]) -> dict[str, Any]:
    name = request["name"]
    row = store.service(name)
    if row is None:
        raise Refused(f"service {name!r} does not exist")
    if row["down_requested"]:
        raise Refused(f"service {name!r} is shutting down")
    version = store.add_version(name, request["task"], request["spec"], request.get("mode"))
    return {"name": name, "version": version}


def op_down(store: ServeStore, request: dict[str, Any]) -> dict[str, Any]:
    rows = store.services()
    if request.get("all"):
        names = [r["name"] for r in rows]
    else:
        names = list(request.get("names") or [])
        known = {r["name"] for r in rows}
        missing = [n for n in names if n not in known]
        if missing:
            raise Refused(f"no such service: {', '.join(missing)}")
    for name in names:
        store.update_service(name, down_requested=1, purge=int(bool(request.get("purge"))))
    return {"names": names}


def op_status(store: ServeStore, request: dict[str, Any]) -> dict[str, Any]:
    wanted = set(request.get("names") or [])
    out = []
    for row in store.services():
        if wanted and row["name"] not in wanted:
            continue
        replicas = store.replicas(row["name"])
        spec = store.spec(row["name"], int(row["version"])) if row["version"] else {}
        out.append(
            {
                "name": row["name"],
                "status": row["status"],
                "version": row["version"],
                "update_mode": row["update_mode"],
                "created_at": row["created_at"],
                "uptime_s": round(time.time() - row["created_at"], 1),
                "endpoint": row["endpoint"],
                "message": row["message"],
                "policy": (spec.get("service") or {}).get("replica_policy"),
                "replicas": [
                    {
                        "replica_id": r["replica_id"],
                        "version": r["version"],
                        "cluster": r["cluster"],
                        "infra": r["infra"],
                        "status": r["status"],
                        "use_spot": bool(r["use_spot"]),
                        "url": r["url"],
                        "launched_at": r["created_at"],
                        "ready_at": r["ready_at"],
                    }
                    for r in replicas
                ],
            }
        )
    from stix_serve.controller import is_running

    missing = sorted(wanted - {s["name"] for s in out})
    return {"services": out, "missing": missing, "running": is_running()}


def op_logs(store: ServeStore, request: dict[str, Any]) -> dict[str, Any]:
    """Write a log to stdout (raw text, not JSON): controller, load balancer or replica."""
    name = request["name"]
    if store.service(name) is None:
        raise Refused(f"service {name!r} does not exist")
    folder = store.root / "logs" / name
    kind = request.get("kind", "replica")
    if kind in ("controller", "load_balancer"):
        _copy(folder / f"{kind}.log")
        return {}
    rid = request.get("replica_id")
    replica = store.replica(name, int(rid)) if rid is not None else None
    if replica is None:
        raise Refused(f"service {name!r} has no replica {rid}")
    _copy(folder / f"replica-{rid}.launch.log")
    from stix import sdk
    from stix.errors import StixError

    try:
        sdk.tail_logs(replica["cluster"], follow=bool(request.get("follow")), write=_write)
    except StixError as exc:
        _write(f"(replica job log unavailable: {exc.message})\n".encode())
    return {}


def _write(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _copy(path: Path) -> None:
    if path.is_file():
        with path.open("rb") as fh:
            while chunk := fh.read(65536):
                _write(chunk)


OPS = {
    "ping": op_ping,
    "up": op_up,
    "update": op_update,
    "down": op_down,
    "status": op_status,
    "logs": op_logs,
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in OPS:
        print(json.dumps({"error": f"unknown operation; use one of {', '.join(OPS)}"}))
        return 2
    text = sys.stdin.read()
    request = json.loads(text) if text.strip() else {}
    store = ServeStore()
    try:
        reply = OPS[args[0]](store, request)
    except Refused as exc:
        reply = {"error": str(exc)}
    finally:
        store.close()
    if args[0] != "logs" or "error" in reply:
        print(json.dumps(reply))
    return 0


if __name__ == "__main__":
    sys.exit(main())
