"""Tear this node's cluster down from the head itself (run by the head's agent on autodown).

Lambda instances have no identity of their own, so the user's API key comes in
``LAMBDA_API_KEY`` (kept by the agent in a file only the node's user reads); the cluster is
``STIX_CLUSTER_NAME_ON_CLOUD``. The cluster's SSH key is deleted first, then every instance
named ``<cluster>-head`` or ``<cluster>-worker`` is terminated in one call.
``STIX_LAMBDA_API_URL`` overrides the API's base URL. Standard library and the agent's
:mod:`stix.agent.noderest` only. Usage: ``python3 node_autodown.py down``.
"""

import os
import sys

try:
    from stix_agent.noderest import call, run  # on the node, from the agent's zipapp
except ImportError:
    from stix.agent.noderest import call, run

API = "https://cloud.lambdalabs.com/api/v1"


def _data(method: str, path: str, body: object = None, missing_ok: bool = False) -> list:
    url = os.environ.get("STIX_LAMBDA_API_URL", API).rstrip("/") + path
    answer = call(method, url, os.environ["LAMBDA_API_KEY"], body, missing_ok=missing_ok)
    data = answer.get("data") if isinstance(answer, dict) else None
    return data if isinstance(data, list) else []


def main(action: str) -> int:
    cluster = os.environ.get("STIX_CLUSTER_NAME_ON_CLOUD", "")
    if action != "down" or not cluster or not os.environ.get("LAMBDA_API_KEY"):
        return 2
    for key in _data("GET", "/ssh-keys"):
        if key.get("name") == f"stix-{cluster}":
            _data("DELETE", f"/ssh-keys/{key['id']}", missing_ok=True)
    names = (f"{cluster}-head", f"{cluster}-worker")
    ids = [
        str(inst["id"])
        for inst in _data("GET", "/instances")
        if inst.get("name") in names and inst.get("status") not in ("terminated", "terminating")
    ]
    if ids:
        print(f"stix: terminating {', '.join(ids)}", file=sys.stderr)
        _data("POST", "/instance-operations/terminate", {"instance_ids": ids})
    return 0


if __name__ == "__main__":
    run(main, "node_autodown.py down (with LAMBDA_API_KEY and STIX_CLUSTER_NAME_ON_CLOUD set)")
