"""``stix ssh up/down``: bring an ssh node pool's hosts online (checked, agent staged) or offline."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from stix.clouds.ssh.pools import Host, Pool


def _pools(infra: str | None) -> list[Pool]:
    from stix.clouds.ssh.pools import get_pool, load_pools

    if infra is None:
        return list(load_pools().values()) or [get_pool(None)]
    name = infra.split("/", 1)[1] if infra.startswith("ssh/") else infra
    return [get_pool(name)]


@click.group()
def ssh() -> None:
    """Manage ssh node pools (machines listed in ~/.stix/ssh_node_pools.yaml).

    \b
    Examples:
        stix ssh up --infra ssh/mypool
        stix ssh down --infra mypool
    """


@ssh.command()
@click.option(
    "--infra", default=None, help="Pool to bring up (ssh/<pool> or <pool>); all by default."
)
def up(infra: str | None) -> None:
    """Check every host of the pool, stage the node agent there, and make it allocatable.

    A host that cannot be reached, or where the agent cannot be copied, is left offline.

    \b
    Examples:
        stix ssh up
        stix ssh up --infra ssh/mypool
    """
    from stix.backend.runtime import agent_zipapp
    from stix.clouds.ssh import allocation
    from stix.clouds.ssh.probe import host_runner
    from stix.clouds.ssh.status import probe_pool
    from stix.errors import StixError
    from stix.runner.base import run_parallel

    pyz = agent_zipapp()
    failed = 0
    for pool in _pools(infra):
        results = probe_pool(pool)
        good = [h for h, r in results if not isinstance(r, str)]

        def stage(host: Host) -> str | None:
            try:
                host_runner(host).put(pyz, f"~/.stix_agent/{pyz.name}")
            except StixError as exc:
                # keep the reason, not the copy command: "node X: <command> failed: <why>"
                return exc.message.rsplit(" failed: ", 1)[-1]
            return None

        staged = dict(zip([h.host_id for h in good], run_parallel(stage, good), strict=True))
        ready = [h for h in good if staged[h.host_id] is None]
        allocation.set_offline(ready, offline=False)
        for host, result in results:
            if isinstance(result, str):
                problem = f"unreachable - {result}"
            elif staged[host.host_id]:
                problem = f"agent copy failed - {staged[host.host_id]}"
            else:
                acc = f", {result['accelerator']}:{result['count']}" if result.get("count") else ""
                click.echo(
                    f"  {pool.name}/{host.host_id}: up ({result['cpus']:g} CPUs, "
                    f"{result['memory_gib']:g} GiB{acc}, Python {result['python']})"
                )
                continue
            failed += 1
            # not allocatable until a later `stix ssh up` succeeds (unless a cluster holds it)
            held = allocation.set_offline([host], offline=True)
            state = "still held by " + held[0].split(" ", 1)[-1] if held else "offline"
            click.echo(f"  {pool.name}/{host.host_id}: not up ({state}): {problem}")
    if failed:
        raise StixError(f"{failed} host(s) could not be brought up; see above")


@ssh.command()
@click.option(
    "--infra", default=None, help="Pool to take down (ssh/<pool> or <pool>); all by default."
)
def down(infra: str | None) -> None:
    """Take the pool's hosts offline (no new clusters); refuses while clusters hold them.

    \b
    Examples:
        stix ssh down --infra mypool
        stix ssh down
    """
    from stix.clouds.ssh import allocation
    from stix.errors import StixError

    for pool in _pools(infra):
        busy = allocation.set_offline(list(pool.hosts), offline=True)
        if busy:
            raise StixError(
                f"ssh/{pool.name}: hosts in use: {', '.join(busy)}",
                hint="stix down those clusters first",
            )
        click.echo(f"  {pool.name}: {len(pool.hosts)} host(s) offline")
