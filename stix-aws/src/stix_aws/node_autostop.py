"""Stop or terminate this node's whole cluster from the node itself (run by the head's agent).

Standard library only (Python 3.8+), so it runs on a bare image: the head
reads its instance-profile credentials from the instance metadata service
(IMDSv2), finds its cluster through its ``stix-cluster`` tag, and signs the
EC2 calls with Signature Version 4. Usage: ``python3 node_autostop.py stop|down``.
``STIX_AWS_IMDS`` and ``AWS_ENDPOINT_URL_EC2``/``AWS_ENDPOINT_URL`` override the
metadata and EC2 endpoints.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import os
import sys
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

TAG_CLUSTER = "stix-cluster"
API_VERSION = "2016-11-15"
LIVE = ("pending", "running", "stopping", "stopped")


def _metadata(path: str, token: str | None = None, put: bool = False) -> str:
    base = os.environ.get("STIX_AWS_IMDS", "http://169.254.169.254").rstrip("/")
    headers = {"X-aws-ec2-metadata-token-ttl-seconds": "300"} if put else {}
    if token:
        headers["X-aws-ec2-metadata-token"] = token
    request = urllib.request.Request(base + path, headers=headers, method="PUT" if put else "GET")
    with urllib.request.urlopen(request, timeout=5) as reply:
        return reply.read().decode()


def node_identity() -> dict[str, str]:
    """Instance id, region and the instance profile's temporary credentials."""
    token = _metadata("/latest/api/token", put=True)
    role = _metadata("/latest/meta-data/iam/security-credentials/", token).split()[0]
    creds = json.loads(_metadata(f"/latest/meta-data/iam/security-credentials/{role}", token))
    return {
        "instance_id": _metadata("/latest/meta-data/instance-id", token),
        "region": _metadata("/latest/meta-data/placement/region", token),
        "key": creds["AccessKeyId"],
        "secret": creds["SecretAccessKey"],
        "token": creds.get("Token", ""),
    }


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sign(
    url: str, body: str, region: str, key: str, secret: str, token: str, amz_date: str
) -> dict[str, str]:
    """Headers of a SigV4-signed ``POST`` of ``body`` to the EC2 ``url``."""
    parts = urllib.parse.urlsplit(url)
    headers = {
        "content-type": "application/x-www-form-urlencoded; charset=utf-8",
        "host": parts.netloc,
        "x-amz-date": amz_date,
    }
    if token:
        headers["x-amz-security-token"] = token
    names = sorted(headers)
    canonical = "\n".join(
        [
            "POST",
            parts.path or "/",
            "",
            "".join(f"{n}:{headers[n].strip()}\n" for n in names),
            ";".join(names),
            hashlib.sha256(body.encode()).hexdigest(),
        ]
    )
    day = amz_date[:8]
    scope = f"{day}/{region}/ec2/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    signing_key = _hmac(
        _hmac(_hmac(_hmac(("AWS4" + secret).encode(), day), region), "ec2"), "aws4_request"
    )
    signature = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={key}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return headers


def call(identity: dict[str, str], params: dict[str, str]) -> ET.Element:
    """One EC2 query API call; the parsed XML answer."""
    region = identity["region"]
    url = (
        os.environ.get("AWS_ENDPOINT_URL_EC2")
        or os.environ.get("AWS_ENDPOINT_URL")
        or f"https://ec2.{region}.amazonaws.com"
    ).rstrip("/") + "/"
    body = urllib.parse.urlencode({**params, "Version": API_VERSION})
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    headers = sign(url, body, region, identity["key"], identity["secret"], identity["token"], now)
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as reply:
        return ET.fromstring(reply.read())


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def instances(root: ET.Element) -> list[tuple[str, str, dict[str, str]]]:
    """``[(instance id, state, tags)]`` from a DescribeInstances answer."""
    found = []
    for node in root.iter():
        if _local(node.tag) != "item" or node.find("./{*}instanceId") is None:
            continue
        tags = {}
        for tag in node.findall("./{*}tagSet/{*}item"):
            tags[tag.findtext("./{*}key") or ""] = tag.findtext("./{*}value") or ""
        iid = node.findtext("./{*}instanceId") or ""
        found.append((iid, node.findtext("./{*}instanceState/{*}name") or "", tags))
    return found


def cluster_instances(identity: dict[str, str]) -> list[str]:
    """Ids of every live node of this node's cluster (this node last)."""
    me = identity["instance_id"]
    mine = instances(call(identity, {"Action": "DescribeInstances", "InstanceId.1": me}))
    cluster = next((tags.get(TAG_CLUSTER) for iid, _, tags in mine if iid == me), None)
    if not cluster:
        raise SystemExit(f"stix: instance {me} has no {TAG_CLUSTER} tag")
    params = {
        "Action": "DescribeInstances",
        "Filter.1.Name": f"tag:{TAG_CLUSTER}",
        "Filter.1.Value.1": str(cluster),
        "Filter.2.Name": "instance-state-name",
    }
    for n, state in enumerate(LIVE, 1):
        params[f"Filter.2.Value.{n}"] = state
    ids = [iid for iid, _, _ in instances(call(identity, params))]
    return sorted(ids, key=lambda i: i == me)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("stop", "down"):
        print("usage: node_autostop.py stop|down", file=sys.stderr)
        return 2
    identity = node_identity()
    ids = cluster_instances(identity)
    action = "StopInstances" if argv[0] == "stop" else "TerminateInstances"
    params = {"Action": action}
    for n, iid in enumerate(ids, 1):
        params[f"InstanceId.{n}"] = iid
    call(identity, params)
    print(f"stix: {action} {' '.join(ids)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
