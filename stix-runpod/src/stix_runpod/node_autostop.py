"""Stop or terminate this pod's cluster from the pod itself (run by the head's agent).

RunPod pods have no identity of their own, so the user's API key comes in
``RUNPOD_API_KEY`` (kept by the agent in a file only the pod's user reads). The cluster's
pod is the one named ``<STIX_CLUSTER_NAME_ON_CLOUD>-head``: ``stop`` calls ``podStop``;
``down`` deletes the cluster's saved registry login, then calls ``podTerminate``.
``STIX_RUNPOD_API_URL`` overrides the GraphQL URL. Standard library and the agent's
:mod:`stix.agent.noderest` only. Usage: ``python3 node_autostop.py stop|down``.
"""

import os
import sys

try:
    from stix_agent.noderest import ApiError, call, run  # on the node: the agent's zipapp
except ImportError:
    from stix.agent.noderest import ApiError, call, run

API = "https://api.runpod.io/graphql"
PODS = "query Pods { myself { pods { id name desiredStatus } containerRegistryCreds { id name } } }"
STOP = "mutation Stop($input: PodStopInput!) { podStop(input: $input) { id desiredStatus } }"
TERMINATE = "mutation Terminate($input: PodTerminateInput!) { podTerminate(input: $input) }"
DELETE_AUTH = "mutation DeleteAuth($id: String!) { deleteRegistryAuth(registryAuthId: $id) }"


def _graphql(query: str, variables: dict) -> dict:
    url = os.environ.get("STIX_RUNPOD_API_URL", API)
    answer = call(
        "POST", url, os.environ["RUNPOD_API_KEY"], {"query": query, "variables": variables}
    )
    answer = answer if isinstance(answer, dict) else {}
    if answer.get("errors"):
        raise ApiError(200, str(answer["errors"][0].get("message", answer["errors"])))
    return answer.get("data") or {}


def main(action: str) -> int:
    cluster = os.environ.get("STIX_CLUSTER_NAME_ON_CLOUD", "")
    if action not in ("stop", "down") or not cluster or not os.environ.get("RUNPOD_API_KEY"):
        return 2
    me = _graphql(PODS, {}).get("myself") or {}
    pods = [
        p
        for p in me.get("pods") or []
        if p.get("name") == f"{cluster}-head" and p.get("desiredStatus") != "TERMINATED"
    ]
    if action == "down":  # the login first: nothing runs here once the pod is gone
        for auth in me.get("containerRegistryCreds") or []:
            if auth.get("name") == f"stix-{cluster}":
                _graphql(DELETE_AUTH, {"id": auth["id"]})
    for pod in pods:
        print(f"stix: {action} pod {pod['id']}", file=sys.stderr)
        if action == "down":
            _graphql(TERMINATE, {"input": {"podId": pod["id"]}})
        elif pod.get("desiredStatus") == "RUNNING":
            _graphql(STOP, {"input": {"podId": pod["id"]}})
    return 0


if __name__ == "__main__":
    run(main, "node_autostop.py stop|down (with RUNPOD_API_KEY and STIX_CLUSTER_NAME_ON_CLOUD set)")
