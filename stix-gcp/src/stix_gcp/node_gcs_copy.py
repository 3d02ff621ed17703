"""Copy ``gs://bucket/prefix`` to a folder on a node, with the standard library only.

Run on a node that has neither ``gcloud`` nor ``gsutil``: ``python3 -c <this file> URL DEST``.
It lists objects with the Cloud Storage JSON API and downloads each with ``alt=media``,
authenticated by the VM's service account (metadata server token), or against
``STORAGE_EMULATOR_HOST`` when that is set. A single object is copied to DEST itself.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
import urllib.request

METADATA_TOKEN = (
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
)


def _token():
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        return None
    request = urllib.request.Request(METADATA_TOKEN, headers={"Metadata-Flavor": "Google"})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.load(reply)["access_token"]
    except OSError as exc:
        sys.exit(f"stix: cannot get a token from the metadata server ({exc}); install gcloud")


def _get(url, token):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=300)


def main(url, dest):
    bucket, _, prefix = url[len("gs://") :].partition("/")
    base = os.environ.get("STORAGE_EMULATOR_HOST", "https://storage.googleapis.com").rstrip("/")
    if "://" not in base:
        base = f"http://{base}"
    token = _token()
    names, page = [], ""
    while True:
        query = {"prefix": prefix, **({"pageToken": page} if page else {})}
        listing = f"{base}/storage/v1/b/{urllib.parse.quote(bucket)}/o?" + urllib.parse.urlencode(
            query
        )
        with _get(listing, token) as reply:
            body = json.load(reply)
        names += [item["name"] for item in body.get("items", [])]
        page = body.get("nextPageToken")
        if not page:
            break
    single = bool(prefix) and names == [prefix]
    folder = prefix.rstrip("/") + "/" if prefix and not single else ""
    for name in names:
        if name.endswith("/"):
            continue
        target = dest if single else os.path.join(dest, name[len(folder) :])
        os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
        link = f"{base}/download/storage/v1/b/{urllib.parse.quote(bucket)}/o/"
        link += urllib.parse.quote(name, safe="") + "?alt=media"
        with _get(link, token) as reply, open(target, "wb") as out:
            while True:
                chunk = reply.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
    if not single:
        os.makedirs(dest, exist_ok=True)


if __name__ == "__main__":
    main(sys.argv[1], os.path.expanduser(sys.argv[2]))
