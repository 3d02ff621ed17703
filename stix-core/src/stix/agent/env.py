"""Environment variables given to each rank of a job (SPEC §4), SkyPilot names and STIX twins."""

from __future__ import annotations

import json
import math
from typing import Any, Dict, List, Optional

# What a local sandbox's jobs take from this machine's environment (plus ``LC_*``,
# ``STIX_*`` and ``SKYPILOT_*``): where programs are, the locale and the user.
_BASICS = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "USER", "LOGNAME", "SHELL", "TERM", "TMPDIR")


def node_basics(environ: Dict[str, str]) -> Dict[str, str]:
    """``environ`` without what the client brought (credentials, settings): for sandboxes."""
    return {
        k: v
        for k, v in environ.items()
        if k in _BASICS or k.startswith(("LC_", "STIX_", "SKYPILOT_"))
    }


def task_id(run_timestamp: str, cluster_name: str, job_id: int) -> str:
    """SkyPilot's run id: ``sky-<YYYY-MM-DD-HH-MM-SS-ffffff>_<cluster>_<job_id>``."""
    return "%s_%s_%d" % (run_timestamp, cluster_name, job_id)


def _cluster_info(cluster: Dict[str, Any]) -> str:
    return json.dumps(
        {
            "cluster_name": cluster.get("cluster_name"),
            "cloud": cluster.get("cloud"),
            "region": cluster.get("region"),
            "zone": cluster.get("zone"),
        }
    )


def _twin(env: Dict[str, str]) -> Dict[str, str]:
    """Add a ``STIX_*`` copy of every ``SKYPILOT_*`` variable."""
    out = dict(env)
    for key, value in env.items():
        if key.startswith("SKYPILOT_"):
            out["STIX_" + key[len("SKYPILOT_") :]] = value
    return out


def common(job: Dict[str, Any], cluster: Dict[str, Any], spec: Dict[str, Any]) -> Dict[str, str]:
    """Variables shared by setup and run: user envs/secrets, cluster info, user, task id."""
    env: Dict[str, str] = {}
    env.update({k: str(v) for k, v in (spec.get("envs") or {}).items()})
    env.update({k: str(v) for k, v in (spec.get("secrets") or {}).items()})
    env["PYTHONUNBUFFERED"] = "1"
    tid = spec.get("task_id") or task_id(
        job["run_timestamp"], str(cluster.get("cluster_name")), job["job_id"]
    )
    env.update(
        {
            "SKYPILOT_TASK_ID": tid,
            "SKYPILOT_CLUSTER_INFO": _cluster_info(cluster),
            "SKYPILOT_USER": str(job.get("user") or ""),
            "SKYPILOT_NUM_NODES": str(job["num_nodes"]),
        }
    )
    env.update({k: str(v) for k, v in (spec.get("extra_envs") or {}).items()})
    return env


def setup_env(
    job: Dict[str, Any],
    cluster: Dict[str, Any],
    spec: Dict[str, Any],
    rank: int,
    ips: List[str],
) -> Dict[str, str]:
    """Setup-phase variables for the node of ``rank`` (``ips``: every cluster node)."""
    env = common(job, cluster, spec)
    env["SKYPILOT_SETUP_NODE_RANK"] = str(rank)
    env["SKYPILOT_SETUP_NODE_IPS"] = "\n".join(ips)
    env["SKYPILOT_SETUP_NUM_GPUS_PER_NODE"] = str(gpus_per_node(job["gpus"]))
    return _twin(env)


def run_env(
    job: Dict[str, Any],
    cluster: Dict[str, Any],
    spec: Dict[str, Any],
    rank: int,
    ips: List[str],
    gpu_ids: Optional[List[Any]],
    node_has_gpus: bool,
) -> Dict[str, str]:
    """Run-phase variables for ``rank`` (``ips``: the job's nodes, in rank order)."""
    env = common(job, cluster, spec)
    env.update(
        {
            "SKYPILOT_NODE_RANK": str(rank),
            "SKYPILOT_NODE_IPS": "\n".join(ips),
            "SKYPILOT_NUM_GPUS_PER_NODE": str(gpus_per_node(job["gpus"])),
            "SKYPILOT_INTERNAL_JOB_ID": str(job["job_id"]),
        }
    )
    env = _twin(env)
    if node_has_gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in gpu_ids or [])
    return env


def gpus_per_node(gpus: float) -> int:
    """Ceil of the requested accelerator count per node."""
    return math.ceil(gpus or 0)
