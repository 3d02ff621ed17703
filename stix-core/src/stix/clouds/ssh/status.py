"""Probing pool hosts in parallel (for ``stix check``, offers and ``stix ssh up``)."""

from __future__ import annotations

from typing import Any

from stix.clouds.ssh import allocation
from stix.clouds.ssh.pools import Host, Pool
from stix.errors import StixError


def probe_pool(
    pool: Pool, hosts: list[Host] | None = None
) -> list[tuple[Host, dict[str, Any] | str]]:
    """Probe ``hosts`` (default: all of the pool) at once; record and return capacity or error."""
    from stix.clouds.ssh.probe import probe
    from stix.runner.base import run_parallel

    def one(host: Host) -> tuple[Host, dict[str, Any] | str]:
        try:
            cap = probe(host)
        except StixError as exc:
            reason = (
                exc.message.split(": ", 1)[-1] if exc.message.startswith("node ") else exc.message
            )
            allocation.record_capacity(host, {"error": reason})
            return host, reason
        allocation.record_capacity(host, cap)
        return host, cap

    return list(run_parallel(one, list(hosts if hosts is not None else pool.hosts)))
