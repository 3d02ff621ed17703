"""Reaching pool hosts: runners with the pool's login, reachability checks, capacity probes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stix.clouds.ssh.pools import Host
from stix.errors import StixError

if TYPE_CHECKING:
    from stix.runner.ssh import SshRunner

# Starts the probe's output: anything before it (a login greeting from the user's shell
# startup files) is not part of the measurements.
_MARK = "--stix-probe--"
# One round trip: CPUs, memory (kB), python version, GPUs (name, count) when nvidia-smi exists.
_PROBE = (
    f"echo {_MARK}; "
    "nproc; awk '/MemTotal/ {print $2}' /proc/meminfo; "
    "python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])' 2>/dev/null || echo none; "
    "(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null || true) | sort | uniq -c"
)


def host_runner(
    host: Host,
    *,
    cluster: str = "",
    name: str | None = None,
    known_hosts: str | None = None,
    is_head: bool = False,
    boot_timeout: float = 0.0,
    connect_timeout: float = 10.0,
) -> SshRunner:
    """A runner logging into ``host`` with its pool's user, key and jump host."""
    from stix.runner.ssh import SshRunner
    from stix.runner.ssh_conn import SshTarget
    from stix.runner.ssh_keys import known_hosts_file

    if known_hosts is None:
        known_hosts = str(known_hosts_file(cluster or f"pool-{host.pool}"))
    return SshRunner(
        SshTarget(
            host=host.ip,
            user=host.user,
            port=host.port,
            key=host.identity_file,
            known_hosts=known_hosts,
            name=name or f"{host.pool}/{host.host_id}",
            proxy_jump=host.proxy_jump,
        ),
        is_head=is_head,
        cluster=cluster,
        boot_timeout=boot_timeout,
        connect_timeout=connect_timeout,
    )


def probe(host: Host, connect_timeout: float = 5.0) -> dict[str, Any]:
    """Log in and measure the host: ``{"cpus", "memory_gib", "python", "accelerator", "count"}``.

    :raises StixError: naming the host and why it cannot be used.
    """
    runner = host_runner(host, connect_timeout=connect_timeout)
    result = runner.run(_PROBE, timeout=30)
    if result.returncode != 0:
        raise StixError(f"{runner.name}: probe failed: {result.stderr.strip()[:200]}")
    lines = result.stdout.splitlines()
    lines = lines[lines.index(_MARK) + 1 :] if _MARK in lines else []
    try:
        cpus, mem_kb, python = float(lines[0]), float(lines[1]), lines[2].strip()
        if python == "none":
            raise StixError(
                f"{runner.name}: python3 is not installed (the agent needs Python >= 3.8)"
            )
        major, minor = (int(p) for p in python.split("."))
    except (IndexError, ValueError):
        shown = " | ".join(result.stdout.strip().splitlines()[-4:])
        raise StixError(f"{runner.name}: probe gave unexpected output: {shown[:200]!r}") from None
    if (major, minor) < (3, 8):
        raise StixError(f"{runner.name}: python3 is {python}; the agent needs Python >= 3.8")
    found = [line.split(None, 1) for line in lines[3:] if line.strip()]
    accelerator, count = host.accelerator, host.accelerator_count
    if accelerator is None and found:
        count, name = int(found[0][0]), found[0][1].strip()
        accelerator = name.replace("NVIDIA ", "").split()[0]
    return {
        "cpus": cpus,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": python,
        "accelerator": accelerator,
        "count": count,
    }
