"""Stop or delete this node's whole cluster from the node itself (run by the head's agent).

Standard library only, so it runs on a bare image: the head asks the metadata
server who it is (name, zone, project) and for its service account's token,
reads its own ``stix-cluster`` label through the Compute Engine API, then stops
or deletes every instance with that label (and, on ``down``, the cluster's
firewall rules, first). Usage: ``python3 node_autostop.py stop|down``.
``GCE_METADATA_HOST`` and ``STIX_GCP_ENDPOINT`` override the two endpoints.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

LABEL = "stix-cluster"
API = "https://compute.googleapis.com"


def _metadata(path: str) -> str:
    host = os.environ.get("GCE_METADATA_HOST", "metadata.google.internal")
    request = urllib.request.Request(
        f"http://{host}/computeMetadata/v1/{path}", headers={"Metadata-Flavor": "Google"}
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        return reply.read().decode()


def _call(method: str, url: str, token: str) -> dict:
    request = urllib.request.Request(
        url,
        method=method,
        headers={"Authorization": f"Bearer {token}"},
        data=b"" if method == "POST" else None,
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            body = reply.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404 and method == "DELETE":
            return {}
        raise
    return json.loads(body) if body else {}


def main(action: str) -> int:
    if action not in ("stop", "down"):
        print(f"usage: {sys.argv[0]} stop|down", file=sys.stderr)
        return 2
    token = json.loads(_metadata("instance/service-accounts/default/token"))["access_token"]
    name = _metadata("instance/name")
    zone = _metadata("instance/zone").rsplit("/", 1)[-1]
    project = _metadata("project/project-id")
    base = f"{os.environ.get('STIX_GCP_ENDPOINT', API).rstrip('/')}/compute/v1/projects/{project}"
    me = _call("GET", f"{base}/zones/{zone}/instances/{name}", token)
    cluster = (me.get("labels") or {}).get(LABEL)
    if not cluster:
        print(f"stix: instance {name} has no {LABEL} label", file=sys.stderr)
        return 1
    query = urllib.parse.urlencode({"filter": f'labels.{LABEL} = "{cluster}"'})
    listing = _call("GET", f"{base}/aggregated/instances?{query}", token)
    found = [
        i for scoped in (listing.get("items") or {}).values() for i in scoped.get("instances", [])
    ]
    found.sort(key=lambda i: i["name"] == name)  # this node last: it dies with the request
    if action == "down":  # rules first: nothing runs here once this node is deleted
        for tag in (me.get("tags") or {}).get("items", []):
            if tag.startswith("stix-"):
                for rule in (f"{tag}-ssh"[:63], f"{tag}-ports"[:63]):
                    _call("DELETE", f"{base}/global/firewalls/{rule}", token)
    for inst in found:
        where = f"{base}/zones/{inst['zone'].rsplit('/', 1)[-1]}/instances/{inst['name']}"
        if action == "down":
            _call("DELETE", where, token)
        elif inst.get("status") not in ("TERMINATED", "STOPPING"):
            _call("POST", f"{where}/stop", token)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ""))
