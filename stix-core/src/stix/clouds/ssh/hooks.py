"""Entry module of the built-in ``ssh`` cloud (node pools in ``ssh_node_pools.yaml``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

from stix.hookspecs import hookimpl
from stix.interfaces import CheckResult, Cloud

if TYPE_CHECKING:
    from stix.catalog.offer import Offer
    from stix.task import Resources

# Seconds before an unreachable host is probed again while looking for offers.
RETRY_PROBE_AFTER = 60.0


def instance_type(cap: dict[str, Any]) -> str:
    """A readable name for a host shape: ``4CPU--16GB`` (plus ``--A100:8`` with GPUs)."""
    text = f"{int(cap['cpus'])}CPU--{int(cap['memory_gib'])}GB"
    if cap.get("accelerator") and cap.get("count"):
        text += f"--{cap['accelerator']}:{int(cap['count'])}"
    return text


class SshCloud(Cloud):
    """Machines you already have, reached over SSH and grouped in pools."""

    name: ClassVar[str] = "ssh"
    display_name: ClassVar[str] = "SSH node pools"
    features: ClassVar[frozenset[str]] = frozenset({"multi_node"})
    uses_catalog: ClassVar[bool] = False
    default_cpus: ClassVar[str] = "1+"
    distribution: ClassVar[str] = "stix"

    def check(self) -> CheckResult:
        from stix.clouds.ssh.pools import load_pools, pools_path
        from stix.clouds.ssh.status import probe_pool

        pools = load_pools()
        if not pools:
            return CheckResult(
                False,
                f"no node pools in {pools_path()}",
                hint="list your machines there (pool name -> user, identity_file, hosts)",
            )
        parts, reachable = [], 0
        for pool in pools.values():
            results = probe_pool(pool)
            good = [h for h, r in results if not isinstance(r, str)]
            reachable += len(good)
            bad = [f"{h.host_id}: {r}" for h, r in results if isinstance(r, str)]
            part = f"{pool.name}: {len(good)}/{len(pool.hosts)} hosts reachable"
            parts.append(part + (f" ({'; '.join(bad)})" if bad else ""))
        detail = "; ".join(parts)
        if not reachable:
            return CheckResult(False, detail, hint="check the hosts, users and identity files")
        return CheckResult(True, detail)

    def live_offers(self, resources: Resources, num_nodes: int) -> list[Offer]:
        """One offer per pool with ``num_nodes`` free hosts that fit (price 0)."""
        from stix.catalog.offer import Offer
        from stix.clouds.ssh import allocation
        from stix.clouds.ssh.pools import load_pools
        from stix.clouds.ssh.provisioner import host_fits
        from stix.clouds.ssh.status import probe_pool

        if resources.zone is not None:
            return []
        offers = []
        for pool in load_pools().values():
            if resources.region not in (None, pool.name):
                continue
            with allocation.locked_state(write=False) as state:
                free = allocation.free_hosts(pool, state)
                caps = dict(state["capacity"])
            now = time.time()
            stale = [
                h
                for h in free
                if allocation.key(h) not in caps
                or (
                    "error" in caps[allocation.key(h)]
                    and now - caps[allocation.key(h)]["probed_at"] > RETRY_PROBE_AFTER
                )
            ]
            if stale:
                probe_pool(pool, stale)
                caps = allocation.capacities()
            fitting = [
                h
                for h in free
                if "error" not in caps.get(allocation.key(h), {"error": 1})
                and host_fits(h, resources, caps)
            ]
            if len(fitting) < num_nodes:
                continue
            chosen = [caps[allocation.key(h)] for h in fitting[:num_nodes]]
            shape = min(chosen, key=lambda c: (c["cpus"], c["memory_gib"]))
            if resources.instance_type not in (None, instance_type(shape)):
                continue
            acc = resources.accelerator()
            offers.append(
                Offer(
                    cloud="ssh",
                    instance_type=instance_type(shape),
                    vcpus=float(shape["cpus"]),
                    memory_gib=float(shape["memory_gib"]),
                    price=0.0,
                    region=pool.name,
                    zone=None,
                    accelerator_name=acc[0] if acc else None,
                    accelerator_count=acc[1] if acc else 0,
                )
            )
        return offers


@hookimpl
def register_clouds(register: Any) -> None:
    register(SshCloud)


@hookimpl
def register_provisioners(register: Any) -> None:
    from stix.clouds.ssh.provisioner import SshProvisioner

    register(SshProvisioner)
