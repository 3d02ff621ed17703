"""Stop or destroy this instance's cluster from the instance itself (run by the head's agent).

Vast instances have no identity of their own, so the user's API key comes in
``VAST_API_KEY`` (kept by the agent in a file only the instance's user reads). The
cluster's instance is the one labelled ``<STIX_CLUSTER_NAME_ON_CLOUD>-head``: ``stop``
sets it to ``stopped`` (its disk stays, and is billed); ``down`` removes the account SSH
key given in ``STIX_VAST_SSH_KEY``, then destroys the instance. ``STIX_VAST_API_URL``
overrides the API's base URL. Standard library and the agent's :mod:`stix.agent.noderest`
only. Usage: ``python3 node_autostop.py stop|down``.
"""

import os
import sys

try:
    from stix_agent.noderest import call, run  # on the node: the agent's zipapp
except ImportError:
    from stix.agent.noderest import call, run

API = "https://console.vast.ai/api/v0"


def _api(method: str, path: str, body: object = None) -> object:
    url = os.environ.get("STIX_VAST_API_URL", API).rstrip("/") + path
    return call(method, url, os.environ["VAST_API_KEY"], body, missing_ok=method == "DELETE")


def main(action: str) -> int:
    cluster = os.environ.get("STIX_CLUSTER_NAME_ON_CLOUD", "")
    if action not in ("stop", "down") or not cluster or not os.environ.get("VAST_API_KEY"):
        return 2
    listing = _api("GET", "/instances/?owner=me")
    found = [
        inst
        for inst in (listing.get("instances") if isinstance(listing, dict) else None) or []
        if inst.get("label") == f"{cluster}-head"
    ]
    mine = os.environ.get("STIX_VAST_SSH_KEY", "").split()[:2]
    if action == "down" and mine:  # the key first: nothing runs here once this is destroyed
        keys = _api("GET", "/ssh/")
        for key in keys if isinstance(keys, list) else []:
            if str(key.get("public_key", "")).split()[:2] == mine:
                _api("DELETE", f"/ssh/{key['id']}/")
    for inst in found:
        print(f"stix: {action} instance {inst['id']}", file=sys.stderr)
        if action == "down":
            _api("DELETE", f"/instances/{inst['id']}/")
        else:
            _api("PUT", f"/instances/{inst['id']}/", {"state": "stopped"})
    return 0


if __name__ == "__main__":
    run(main, "node_autostop.py stop|down (with VAST_API_KEY and STIX_CLUSTER_NAME_ON_CLOUD set)")
