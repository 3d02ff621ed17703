"""The Vast.ai provisioner: rent the cheapest live offer for the planned configuration.

The catalog plans on aggregated rows; at launch the live offers of that
configuration in that country are searched again, cheapest first, and rented
in turn: an offer taken by someone else in the meantime (``no_such_ask``) moves
on to the next one. An interruptible instance bids the live offer's ``min_bid``;
the catalog's ``SpotPrice`` only prices the plan (public catalogs carry 0.00 there).
A Vast instance is a container on the host, so the task runs in
``image_id: docker:<image>`` (default ``vast.image``). The cluster's key is added
to the account's SSH keys, which Vast installs on new instances, and removed on
``down``. Instances are labelled ``<cluster on cloud>-head``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, ClassVar

import attrs
from stix.errors import ClusterError, NoCapacityError, ProvisionError
from stix.interfaces import ClusterInfo, InstanceInfo, ProvisionConfig, Provisioner, ProvisionRecord

from stix_vast.api import VastApi, VastApiError, to_stix_error
from stix_vast.catalog import country, offer_query, parse_instance_type

DEFAULT_IMAGE = "vastai/pytorch:latest"
DEFAULT_SSH_USER = "root"
DEFAULT_WAIT_SECONDS = 900.0
DEFAULT_DISK_GB = 50
MAX_OFFERS_TRIED = 5


def _setting(key: str, default: Any = None) -> Any:
    from stix.config import load_config

    return load_config().get(f"vast.{key}", default)


def _api() -> VastApi:
    from stix_vast.credentials import api_key

    return VastApi(api_key())


def _call(api: VastApi, what: str, method: str, path: str, body: Any = None) -> Any:
    try:
        return api.call(method, path, body)
    except VastApiError as exc:
        raise to_stix_error(exc, what) from exc


def cluster_instances(api: VastApi, cluster_name_on_cloud: str) -> list[dict[str, Any]]:
    """The cluster's instances (Vast lists an instance until it is destroyed)."""
    found = (_call(api, "listing instances", "GET", "/instances/?owner=me") or {}).get("instances")
    return [i for i in found or [] if i.get("label") == f"{cluster_name_on_cloud}-head"]


def ssh_address(inst: dict[str, Any]) -> tuple[str, int] | None:
    """``(host, port)``: the direct mapping of port 22, else Vast's SSH proxy."""
    mapped = (inst.get("ports") or {}).get("22/tcp") or []
    if inst.get("public_ipaddr") and mapped:
        return str(inst["public_ipaddr"]).strip(), int(mapped[0]["HostPort"])
    if inst.get("ssh_host") and inst.get("ssh_port"):
        return str(inst["ssh_host"]), int(inst["ssh_port"])
    return None


def status_of(inst: dict[str, Any]) -> str | None:
    actual = inst.get("actual_status")
    if actual == "running":
        return "UP" if ssh_address(inst) else "INIT"
    if actual in ("exited", "stopped") or inst.get("intended_status") == "stopped":
        return "STOPPED"
    return "INIT"


def _public_key_file(cluster_name_on_cloud: str) -> Path:
    from stix.runner.ssh_keys import cluster_key_path

    return Path(f"{cluster_key_path(cluster_name_on_cloud)}.pub")


class VastProvisioner(Provisioner):
    """Rents, queries, stops and destroys Vast.ai instances; each verb is idempotent."""

    name: ClassVar[str] = "vast"
    runs_containers: ClassVar[bool] = True  # the node runs the task's image itself

    def bootstrap(self, config: ProvisionConfig) -> ProvisionConfig:
        """Add the cluster's public key to the account once."""
        from stix.runner.ssh_keys import cluster_public_key

        api = _api()
        public = config.ssh_public_key or cluster_public_key(config.cluster_name_on_cloud)
        keys = _call(api, "listing SSH keys", "GET", "/ssh/") or []
        if not any(str(k.get("public_key", "")).split()[:2] == public.split()[:2] for k in keys):
            _call(api, "adding SSH key", "POST", "/ssh/", {"ssh_key": public})
        return attrs.evolve(config, provider_config={**config.provider_config, "ssh_key": True})

    def run_instances(self, config: ProvisionConfig) -> ProvisionRecord:
        """Rent the cheapest live offer matching the instance type in the region's country."""
        if "ssh_key" not in config.provider_config:
            config = self.bootstrap(config)
        if config.count != 1:
            raise ProvisionError("vast: a Vast.ai cluster has one node", scope="cloud")
        api = _api()
        itype = str(getattr(config.resources, "instance_type", None) or "")
        try:
            gpus, gpu_name, vcpus, ram = parse_instance_type(itype)
        except ValueError as exc:
            raise ProvisionError(f"vast: {exc}", scope="abort") from exc
        spot = bool(getattr(config.resources, "use_spot", False))
        where = country(config.region)
        what = f"{itype}{' (interruptible)' if spot else ''} in {config.region}"
        found = cluster_instances(api, config.cluster_name_on_cloud)
        if found:
            inst = found[0]
            resumed = False
            if status_of(inst) == "STOPPED":
                if not config.resume_stopped:
                    raise ProvisionError(
                        f"vast: cluster {config.cluster_name} is stopped", scope="abort"
                    )
                _call(api, what, "PUT", f"/instances/{inst['id']}/", {"state": "running"})
                resumed = True
            return self._record(config, inst["id"], resumed=resumed)
        query = offer_query(
            gpu_name={"eq": gpu_name},
            num_gpus={"eq": gpus},
            cpu_cores_effective={"gte": vcpus},
            cpu_ram={"gte": ram},
            type="bid" if spot else "on-demand",
            order=[["min_bid" if spot else "dph_total", "asc"]],
            limit=MAX_OFFERS_TRIED * 4,
        )
        if where:
            query["geolocation"] = {"in": [where]}
        offers = (_call(api, what, "POST", "/bundles/", query) or {}).get("offers") or []
        offers = [o for o in offers if not where or country(o.get("geolocation")) == where]
        if spot:  # the bid is the live offer's minimum, never the catalog's (often 0.00) price
            offers = [o for o in offers if float(o.get("min_bid") or 0) > 0]
        for offer in offers[:MAX_OFFERS_TRIED]:
            try:
                made = api.call(
                    "PUT", f"/asks/{offer['id']}/", self._create_body(config, offer, spot)
                )
            except VastApiError as exc:
                if exc.offer_gone:
                    print(
                        f"  vast: offer {offer['id']} was taken; trying the next offer",
                        file=sys.stderr,
                    )
                    continue
                raise to_stix_error(exc, what) from exc
            return self._record(config, made["new_contract"], created=True)
        raise NoCapacityError(f"vast: {what}: no live offer left", scope="instance_type")

    def _create_body(
        self, config: ProvisionConfig, offer: dict[str, Any], spot: bool
    ) -> dict[str, Any]:
        resources = config.resources
        env = {f"-p {p}:{p}": "1" for p in dict.fromkeys(resources.ports_list())}
        body: dict[str, Any] = {
            "client_id": "me",
            "image": resources.docker_image(config.region) or str(_setting("image", DEFAULT_IMAGE)),
            "disk": int(getattr(resources, "disk_size", None) or DEFAULT_DISK_GB),
            "label": f"{config.cluster_name_on_cloud}-head",
            "runtype": "ssh_direc ssh_proxy",
            "env": env,
            **(_setting("create_instance_kwargs", {}) or {}),
        }
        login = config.docker_login
        if login and resources.docker_image(config.region):  # the docker login Vast runs
            body["image_login"] = (
                f"-u {login['SKYPILOT_DOCKER_USERNAME']} -p {login['SKYPILOT_DOCKER_PASSWORD']} "
                f"{login['SKYPILOT_DOCKER_SERVER']}"
            )
        if spot:
            body["price"] = float(offer["min_bid"])
        return body

    def _record(
        self, config: ProvisionConfig, iid: Any, *, created: bool = False, resumed: bool = False
    ) -> ProvisionRecord:
        return ProvisionRecord(
            cloud="vast",
            region=config.region,
            zone=None,
            cluster_name_on_cloud=config.cluster_name_on_cloud,
            head_instance_id=str(iid),
            created_instance_ids=(str(iid),) if created else (),
            resumed_instance_ids=(str(iid),) if resumed else (),
        )

    def wait_instances(self, cluster_name_on_cloud: str, region: str | None, state: str) -> None:
        from stix.provision.poll import until

        api = _api()

        def reached() -> bool | None:
            found = cluster_instances(api, cluster_name_on_cloud)
            if state == "TERMINATED":
                return True if not found else None
            if state == "UP" and not found:
                raise NoCapacityError(
                    f"vast: instance of {cluster_name_on_cloud} went away while starting"
                )
            return True if found and {status_of(i) for i in found} == {state} else None

        until(
            reached,
            timeout=float(_setting("wait_seconds", DEFAULT_WAIT_SECONDS)),
            what=f"vast: cluster {cluster_name_on_cloud} not {state}",
        )

    def get_cluster_info(self, cluster_name_on_cloud: str, region: str | None) -> ClusterInfo:
        from stix.runner.ssh_keys import cluster_key_path

        found = cluster_instances(_api(), cluster_name_on_cloud)
        if not found:
            raise ClusterError(f"vast: cluster {cluster_name_on_cloud} has no instance")
        inst = found[0]
        host, port = ssh_address(inst) or ("", 22)
        key = cluster_key_path(cluster_name_on_cloud)
        return ClusterInfo(
            cloud="vast",
            region=country(inst.get("geolocation")) or region,
            zone=None,
            instances=(
                InstanceInfo(
                    instance_id=str(inst["id"]),
                    internal_ip=str(inst.get("local_ipaddrs") or host).split()[0] if host else "",
                    external_ip=host or None,
                    ssh_port=port,
                    status=status_of(inst) or "TERMINATED",
                ),
            ),
            ssh_user=str(_setting("ssh_user", DEFAULT_SSH_USER)),
            provider_config={
                "cluster_name_on_cloud": cluster_name_on_cloud,
                "ssh_private_key": str(key) if key.exists() else None,
                "use_spot": bool(inst.get("is_bid")),
            },
        )

    def list_clusters(self) -> list[dict[str, Any]] | None:
        """One entry per instance labelled ``<name>-<4 hex>-head`` (the label ``run_instances``
        gives a cluster's instance), in any country; the account's instance list is global.

        ``None`` when no API key is set. The user's cluster name is left to the head's agent.
        """
        import re

        from stix.errors import CredentialsError

        try:
            api = _api()
        except CredentialsError:
            return None
        found = (_call(api, "listing instances", "GET", "/instances/?owner=me") or {}).get(
            "instances"
        )
        out = []
        for inst in found or []:
            named = re.fullmatch(r"(.+-[0-9a-f]{4})-head", str(inst.get("label") or ""))
            if named:
                out.append(
                    {
                        "cluster_name": None,
                        "cluster_name_on_cloud": named.group(1),
                        "region": country(inst.get("geolocation")),
                    }
                )
        return out

    def query_instances(
        self, cluster_name_on_cloud: str, region: str | None
    ) -> dict[str, str | None]:
        return {
            str(i["id"]): status_of(i) for i in cluster_instances(_api(), cluster_name_on_cloud)
        }

    def stop_instances(self, cluster_name_on_cloud: str, region: str | None) -> None:
        """Stop the instance; its disk stays on the host (and is billed) until it is destroyed."""
        api = _api()
        for inst in cluster_instances(api, cluster_name_on_cloud):
            _call(api, "stopping", "PUT", f"/instances/{inst['id']}/", {"state": "stopped"})

    def terminate_instances(self, cluster_name_on_cloud: str, region: str | None) -> None:
        """Destroy the instance, wait until it is gone, and remove the cluster's account key."""
        from stix.runner.ssh_keys import remove_cluster_files

        api = _api()
        found = cluster_instances(api, cluster_name_on_cloud)
        for inst in found:
            _call(api, "destroying", "DELETE", f"/instances/{inst['id']}/")
        if found:
            self.wait_instances(cluster_name_on_cloud, region, "TERMINATED")
        pub = _public_key_file(cluster_name_on_cloud)
        if pub.exists():
            mine = pub.read_text().split()[:2]
            for key in _call(api, "listing SSH keys", "GET", "/ssh/") or []:
                if str(key.get("public_key", "")).split()[:2] == mine:
                    _call(api, "removing SSH key", "DELETE", f"/ssh/{key['id']}/")
        remove_cluster_files(cluster_name_on_cloud)

    def autostop_commands(self, cluster_name: str) -> dict[str, list[str]]:
        """Autostop from the head: a stdlib-only script stops or removes the cluster with
        the user's API key (:meth:`autostop_env`)."""
        from stix.provision.nodescript import script_commands

        return script_commands(__file__, "node_autostop.py")

    def autostop_env(self, cluster_name: str, cluster_name_on_cloud: str) -> dict[str, str]:
        """The API key (and a non-default API URL) for the head's autostop script."""
        from stix.provision.nodescript import api_key_env

        from stix_vast.api import DEFAULT_URL, base_url
        from stix_vast.credentials import ENV_VAR, api_key

        env = api_key_env(ENV_VAR, api_key(), "STIX_VAST_API_URL", base_url(), DEFAULT_URL)
        pub = _public_key_file(cluster_name_on_cloud)
        if pub.exists():  # the account key to remove on autodown
            env["STIX_VAST_SSH_KEY"] = pub.read_text().strip()
        return env

    def open_ports(
        self, cluster_name_on_cloud: str, region: str | None, ports: tuple[str, ...]
    ) -> None:
        """Ports are mapped when the instance is created; check that every one of ``ports`` was."""
        from stix.task.values import ports_to_list

        for inst in cluster_instances(_api(), cluster_name_on_cloud):
            mapped = {int(k.split("/")[0]) for k in (inst.get("ports") or {})}
            missing = [p for p in ports_to_list(ports) if p not in mapped]
            if missing:
                raise ClusterError(
                    f"vast: port {missing[0]} is not mapped on instance {inst['id']}; "
                    "Vast.ai maps ports only when an instance is created",
                    hint="tear the cluster down and launch it again with the ports",
                )


__all__ = ["VastProvisioner", "cluster_instances", "ssh_address", "status_of"]
