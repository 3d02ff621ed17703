"""``stix local``: tools for the built-in local cloud (simulated spot preemption)."""

from __future__ import annotations

import click

from stix.cli.params import COUNT


@click.group()
def local() -> None:
    """Commands for the local cloud's sandbox clusters.

    \b
    Examples:
        stix local preempt dev
        stix local preempt dev --node 1
    """


@local.command()
@click.argument("cluster")
@click.option("--node", type=COUNT, default=None, help="Preempt only node I (0 = head).")
def preempt(cluster: str, node: int | None) -> None:
    """Simulate a spot preemption of CLUSTER (its node processes die, the nodes vanish).

    \b
    Example:
        stix local preempt dev --node 1
    """
    from stix.clouds.local.provisioner import preempt as do_preempt
    from stix.errors import ClusterError
    from stix.sdk.clusters import get_record

    record = get_record(cluster)
    if record.cloud != "local":
        raise ClusterError(f"cluster {cluster!r} is on {record.cloud}, not the local cloud")
    done = do_preempt((record.handle or {})["cluster_name_on_cloud"], node)
    click.echo(f"Preempted: {', '.join(done) or 'nothing'}", err=True)
