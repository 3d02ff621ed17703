"""The Lambda Cloud provisioner: launch, find, wait for and terminate a cluster's instances.

Instances are named ``<cluster on cloud>-head`` and ``<cluster on cloud>-worker``
(Lambda has no tags in v1 that every account has), workers ordered by id. One
SSH key per cluster, ``stix-<cluster on cloud>``, is registered before launch and
deleted on ``down``. Lambda cannot stop instances and sells no spot capacity.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

import attrs
from stix.errors import ClusterError, ProvisionError
from stix.interfaces import ClusterInfo, InstanceInfo, ProvisionConfig, Provisioner, ProvisionRecord

from stix_lambda.api import LambdaApi, LambdaApiError, to_stix_error

DEFAULT_SSH_USER = "ubuntu"
DEFAULT_WAIT_SECONDS = 1200.0
# Lambda's instance status -> STIX's; "terminated" instances leave the list soon after.
STATUS = {"booting": "INIT", "active": "UP", "unhealthy": "INIT", "terminating": None}


def _setting(key: str, default: Any = None) -> Any:
    from stix.config import load_config

    return load_config().get(f"lambda.{key}", default)


def _api() -> LambdaApi:
    from stix_lambda.credentials import api_key

    return LambdaApi(api_key())


def key_name(cluster_name_on_cloud: str) -> str:
    """The name of the cluster's SSH key in the Lambda account."""
    return f"stix-{cluster_name_on_cloud}"


def _guard(api_call: Any, what: str) -> Any:
    try:
        return api_call()
    except LambdaApiError as exc:
        raise to_stix_error(exc, what) from exc


def cluster_instances(api: LambdaApi, cluster_name_on_cloud: str) -> list[dict[str, Any]]:
    """The cluster's instances that are not terminated, head first, workers by id."""
    names = {f"{cluster_name_on_cloud}-head": 0, f"{cluster_name_on_cloud}-worker": 1}
    found = _guard(lambda: api.get("/instances"), "listing instances") or []
    mine = [i for i in found if i.get("name") in names and i.get("status") != "terminated"]
    return sorted(mine, key=lambda i: (names[i["name"]], str(i.get("id"))))


class LambdaProvisioner(Provisioner):
    """Creates, queries and removes Lambda Cloud clusters; each verb is idempotent."""

    name: ClassVar[str] = "lambda"

    def bootstrap(self, config: ProvisionConfig) -> ProvisionConfig:
        """Register the cluster's SSH public key once (Lambda takes exactly one key per launch)."""
        from stix.runner.ssh_keys import cluster_public_key

        api = _api()
        name = key_name(config.cluster_name_on_cloud)
        public = config.ssh_public_key or cluster_public_key(config.cluster_name_on_cloud)
        keys = _guard(lambda: api.get("/ssh-keys"), "listing SSH keys") or []
        same = [k for k in keys if k.get("name") == name]
        if same and same[0].get("public_key", "").split()[:2] != public.split()[:2]:
            _guard(lambda: api.call("DELETE", f"/ssh-keys/{same[0]['id']}"), "replacing SSH key")
            same = []
        if not same:
            body = {"name": name, "public_key": public}
            _guard(lambda: api.post("/ssh-keys", body), "registering SSH key")
        provider = {**config.provider_config, "ssh_key_name": name}
        return attrs.evolve(config, provider_config=provider)

    def run_instances(self, config: ProvisionConfig) -> ProvisionRecord:
        """Launch the head and the missing workers in ``config.region``."""
        if "ssh_key_name" not in config.provider_config:
            config = self.bootstrap(config)
        api = _api()
        itype = getattr(config.resources, "instance_type", None)
        region = config.region
        if not itype or not region:
            raise ProvisionError("lambda: no instance type or region chosen", scope="abort")
        if getattr(config.resources, "use_spot", False):
            raise ProvisionError("lambda: Lambda Cloud sells no spot instances", scope="cloud")
        name = config.cluster_name_on_cloud
        what = f"{itype} in {region}"
        existing = cluster_instances(api, name)
        wrong = [i for i in existing if (i.get("region") or {}).get("name") != region]
        if wrong:
            raise ProvisionError(
                f"lambda: cluster {config.cluster_name} already runs in "
                f"{wrong[0]['region'].get('name')}; tear it down first",
                scope="abort",
            )
        heads = [i for i in existing if i["name"] == f"{name}-head"]
        workers = len(existing) - len(heads)
        created: list[str] = []
        for suffix, quantity in (("head", 1 - len(heads)), ("worker", config.count - 1 - workers)):
            if quantity <= 0:
                continue
            body = {
                "region_name": region,
                "instance_type_name": itype,
                "ssh_key_names": [config.provider_config["ssh_key_name"]],
                "quantity": quantity,
                "name": f"{name}-{suffix}",
            }
            answer = _guard(lambda b=body: api.post("/instance-operations/launch", b), what)
            created += [str(i) for i in (answer or {}).get("instance_ids", [])]
        final = cluster_instances(api, name)
        if not final:
            raise ProvisionError(f"lambda: {what}: no instance was created", scope="zone")
        return ProvisionRecord(
            cloud="lambda",
            region=region,
            zone=None,
            cluster_name_on_cloud=name,
            head_instance_id=str(final[0]["id"]),
            created_instance_ids=tuple(created),
        )

    def wait_instances(self, cluster_name_on_cloud: str, region: str | None, state: str) -> None:
        """Poll until every instance is ``active`` (``UP``) or gone (``TERMINATED``)."""
        if state not in ("UP", "TERMINATED"):
            raise ProvisionError(
                f"lambda: cannot wait for {state}: no stop on Lambda", scope="abort"
            )
        from stix.provision.poll import until

        api = _api()

        def reached() -> bool | None:
            found = cluster_instances(api, cluster_name_on_cloud)
            if state == "TERMINATED":
                return True if not found else None
            if not found:
                raise ProvisionError(
                    f"lambda: cluster {cluster_name_on_cloud} has no instances", scope="zone"
                )
            return True if all(i.get("status") == "active" for i in found) else None

        until(
            reached,
            timeout=float(_setting("wait_seconds", DEFAULT_WAIT_SECONDS)),
            what=f"lambda: cluster {cluster_name_on_cloud} not {state}",
        )

    def get_cluster_info(self, cluster_name_on_cloud: str, region: str | None) -> ClusterInfo:
        """Addresses of the instances, head first."""
        from stix.runner.ssh_keys import cluster_key_path

        found = cluster_instances(_api(), cluster_name_on_cloud)
        if not found:
            raise ClusterError(f"lambda: cluster {cluster_name_on_cloud} has no instances")
        infos = tuple(
            InstanceInfo(
                instance_id=str(i["id"]),
                internal_ip=str(i.get("private_ip") or i.get("ip") or ""),
                external_ip=i.get("ip"),
                status=STATUS.get(str(i.get("status"))) or "TERMINATED",
            )
            for i in found
        )
        key = cluster_key_path(cluster_name_on_cloud)
        return ClusterInfo(
            cloud="lambda",
            region=(found[0].get("region") or {}).get("name") or region,
            zone=None,
            instances=infos,
            ssh_user=str(_setting("ssh_user", DEFAULT_SSH_USER)),
            provider_config={
                "cluster_name_on_cloud": cluster_name_on_cloud,
                "ssh_private_key": str(key) if key.exists() else None,
                "instance_type": (found[0].get("instance_type") or {}).get("name"),
            },
        )

    def list_clusters(self) -> list[dict[str, Any]] | None:
        """One entry per ``<cluster>-head`` instance launched with the cluster's own key
        ``stix-<cluster>``, in any region (the account's instance list is global).

        ``None`` when no API key is set. The user's cluster name is left to the head's agent.
        """
        from stix.errors import CredentialsError

        try:
            api = _api()
        except CredentialsError:
            return None
        found = _guard(lambda: api.get("/instances"), "listing instances") or []
        out = []
        for inst in found:
            name = str(inst.get("name") or "")
            cno = name.removesuffix("-head")
            if cno == name or inst.get("status") == "terminated":
                continue
            if key_name(cno) in (inst.get("ssh_key_names") or []):
                region = (inst.get("region") or {}).get("name")
                out.append({"cluster_name": None, "cluster_name_on_cloud": cno, "region": region})
        return out

    def query_instances(
        self, cluster_name_on_cloud: str, region: str | None
    ) -> dict[str, str | None]:
        """``{id: UP|INIT|None}`` of the cluster's instances (terminating ones are ``None``)."""
        found = cluster_instances(_api(), cluster_name_on_cloud)
        return {str(i["id"]): STATUS.get(str(i.get("status"))) for i in found}

    def stop_instances(self, cluster_name_on_cloud: str, region: str | None) -> None:
        """Lambda Cloud cannot stop an instance: say so and point to ``down``."""
        raise ClusterError(
            f"lambda: cluster {cluster_name_on_cloud}: Lambda Cloud instances cannot be stopped",
            hint="tear the cluster down instead: stix down <cluster>",
        )

    def terminate_instances(self, cluster_name_on_cloud: str, region: str | None) -> None:
        """Terminate every instance, wait until they are gone, delete the SSH key."""
        from stix.runner.ssh_keys import remove_cluster_files

        api = _api()
        ids = [str(i["id"]) for i in cluster_instances(api, cluster_name_on_cloud)]
        if ids:
            body = {"instance_ids": ids}
            _guard(lambda: api.post("/instance-operations/terminate", body), "terminating")
            self.wait_instances(cluster_name_on_cloud, region, "TERMINATED")
        name = key_name(cluster_name_on_cloud)
        for key in _guard(lambda: api.get("/ssh-keys"), "listing SSH keys") or []:
            if key.get("name") == name:
                _guard(lambda k=key: api.call("DELETE", f"/ssh-keys/{k['id']}"), "deleting key")
        remove_cluster_files(cluster_name_on_cloud)

    def autostop_commands(self, cluster_name: str) -> dict[str, list[str]]:
        """Autodown from the head: a stdlib-only script terminates the cluster with the
        user's API key (:meth:`autostop_env`). No stop: Lambda cannot stop instances."""
        from stix.provision.nodescript import script_commands

        return script_commands(__file__, "node_autodown.py", ("down",))

    def autostop_env(self, cluster_name: str, cluster_name_on_cloud: str) -> dict[str, str]:
        """The API key (and a non-default API URL) for the head's autodown script."""
        from stix.provision.nodescript import api_key_env

        from stix_lambda.api import DEFAULT_URL, base_url
        from stix_lambda.credentials import ENV_VAR, api_key

        return api_key_env(ENV_VAR, api_key(), "STIX_LAMBDA_API_URL", base_url(), DEFAULT_URL)

    def open_ports(
        self, cluster_name_on_cloud: str, region: str | None, ports: tuple[str, ...]
    ) -> None:
        """Add inbound TCP rules for ``ports`` to the account's firewall (Lambda's is account-wide)."""
        api = _api()
        rules = list(_guard(lambda: api.get("/firewall-rules"), "reading firewall rules") or [])
        have = {(r.get("protocol"), tuple(r.get("port_range") or ())) for r in rules}
        added = False
        for spec in ports:
            low, _, high = str(spec).partition("-")
            wanted = (int(low), int(high or low))
            if ("tcp", wanted) in have:
                continue
            rules.append(
                {
                    "protocol": "tcp",
                    "port_range": list(wanted),
                    "source_network": "0.0.0.0/0",
                    "description": f"stix {cluster_name_on_cloud}",
                }
            )
            added = True
        if added:
            _guard(lambda: api.call("PUT", "/firewall-rules", {"data": rules}), "opening ports")
        print(f"lambda: ports {', '.join(ports)} open on the account's firewall", file=sys.stderr)


__all__ = ["LambdaProvisioner", "cluster_instances", "key_name"]
