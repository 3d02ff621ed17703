"""Reading ``$STIX_HOME/ssh_node_pools.yaml``: pools of hosts with their login and GPUs.

Format (one mapping per pool)::

    mypool:
      user: ubuntu                  # default login for the pool's hosts
      identity_file: ~/.ssh/id_ed25519
      proxy_jump: me@bastion:22     # optional jump host
      hosts:
        - 10.0.0.5                  # an address, or a mapping:
        - ip: 10.0.0.6
          port: 2222
          user: other
          identity_file: ~/.ssh/other
          accelerators: A100:8      # or {A100: 8}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from stix.errors import ConfigError

POOLS_FILE = "ssh_node_pools.yaml"
_POOL_KEYS = {"user", "identity_file", "proxy_jump", "port", "hosts", "password"}
_HOST_KEYS = {"ip", "port", "user", "identity_file", "proxy_jump", "accelerators", "password"}


@attrs.frozen
class Host:
    """One machine of a pool and how to log into it."""

    pool: str
    ip: str
    user: str
    port: int = 22
    identity_file: str | None = None
    proxy_jump: str | None = None
    accelerator: str | None = None
    accelerator_count: int = 0

    @property
    def host_id(self) -> str:
        """Stable id of the host inside its pool (``ip`` or ``ip:port``)."""
        return self.ip if self.port == 22 else f"{self.ip}:{self.port}"


@attrs.frozen
class Pool:
    name: str
    hosts: tuple[Host, ...]


def pools_path() -> Path:
    """Where pools are defined: ``$STIX_HOME/ssh_node_pools.yaml``."""
    from stix.config import stix_home

    return stix_home() / POOLS_FILE


def _accelerators(value: Any, where: str) -> tuple[str | None, int]:
    if value in (None, "", {}):
        return None, 0
    if isinstance(value, dict) and len(value) == 1:
        name, count = next(iter(value.items()))
    elif isinstance(value, str):
        name, _, count = value.partition(":")
        count = count or 1
    else:
        raise ConfigError(f"{where}.accelerators: expected NAME:COUNT or {{NAME: COUNT}}")
    try:
        return str(name), int(count)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}.accelerators: count {count!r} is not a whole number")


def _host(pool: str, defaults: dict[str, Any], raw: Any, where: str) -> Host:
    if isinstance(raw, str):
        raw = {"ip": raw}
    if not isinstance(raw, dict) or not raw.get("ip"):
        raise ConfigError(f"{where}: expected an address or a mapping with 'ip'")
    unknown = set(raw) - _HOST_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    user = raw.get("user") or defaults.get("user")
    if not user:
        raise ConfigError(f"{where}.user: no login user for host {raw['ip']} (set it on the pool)")
    try:
        port = int(raw.get("port") or defaults.get("port") or 22)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}.port: not a port number")
    name, count = _accelerators(raw.get("accelerators"), where)
    key = raw.get("identity_file") or defaults.get("identity_file")
    return Host(
        pool=pool,
        ip=str(raw["ip"]),
        user=str(user),
        port=port,
        identity_file=str(Path(str(key)).expanduser()) if key else None,
        proxy_jump=raw.get("proxy_jump") or defaults.get("proxy_jump"),
        accelerator=name,
        accelerator_count=count,
    )


def parse_pools(data: Any, source: str = POOLS_FILE) -> dict[str, Pool]:
    """Validate the YAML document ``data``; errors name the field path."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of pool name to pool")
    pools = {}
    for name, body in data.items():
        where = f"{source}: {name}"
        if not isinstance(body, dict):
            raise ConfigError(f"{where}: expected a mapping with 'hosts'")
        unknown = set(body) - _POOL_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown field {sorted(unknown)[0]!r}")
        hosts = body.get("hosts")
        if not isinstance(hosts, list) or not hosts:
            raise ConfigError(f"{where}.hosts: expected a non-empty list")
        parsed = tuple(
            _host(str(name), body, raw, f"{where}.hosts[{i}]") for i, raw in enumerate(hosts)
        )
        ids = [h.host_id for h in parsed]
        dup = next((i for i in ids if ids.count(i) > 1), None)
        if dup:
            raise ConfigError(f"{where}.hosts: {dup} is listed twice")
        pools[str(name)] = Pool(str(name), parsed)
    return pools


def load_pools(path: Path | None = None) -> dict[str, Pool]:
    """Every pool in the pools file (empty when the file does not exist)."""
    from stix.inputs import InputRefused, read_text
    from stix.task.yamlio import YamlSyntaxError, read_one

    path = path or pools_path()
    if not path.exists():
        return {}
    try:
        data = read_one(read_text(path))
    except InputRefused as exc:
        raise ConfigError(f"{path}: {exc.reason}") from None
    except YamlSyntaxError as exc:
        where = f"{path}:{exc.line}" if exc.line is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML ({exc.message})") from None
    return parse_pools(data, str(path))


def get_pool(name: str | None) -> Pool:
    """The pool ``name`` (or the only pool when ``name`` is None)."""
    pools = load_pools()
    if not pools:
        raise ConfigError(
            f"ssh: no node pools defined in {pools_path()}",
            hint="list your machines there; see `stix ssh up --help`",
        )
    if name is None:
        if len(pools) == 1:
            return next(iter(pools.values()))
        raise ConfigError(
            f"ssh: several pools defined; name one with --infra ssh/<pool> ({', '.join(pools)})"
        )
    if name not in pools:
        raise ConfigError(
            f"ssh: no pool named {name!r} in {pools_path()} (pools: {', '.join(pools)})"
        )
    return pools[name]
