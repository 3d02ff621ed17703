"""Real SSH nodes standing in for the instances of a fake cloud API, with fault injection.

A fake cloud (a fake of EC2, Compute Engine, ARM, Lambda...) calls :meth:`CloudNodes.acquire`
when its API creates an instance and :meth:`CloudNodes.release` when it deletes one, so a
plugin under test provisions through its real client library and then reaches a real
machine over SSH, as it would on the real cloud. Unlike :class:`harness.sshnodes.SshNodes`,
every node accepts the same login user (:attr:`CloudNodes.user`), as every VM of a cloud
image does; each node's own home is bind-mounted over that user's home inside the node's
namespaces, so ``~`` differs per node. Network namespaces are required (instances are
addressed by IP with SSH on port 22).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import attrs

from harness.sshnodes import (
    SSHD,
    HarnessUnavailable,
    Node,
    SshNodes,
    _kill_pids,
    _netns_pids,
    _sh,
    _wait_port,
    netns_permitted,
)


class NoFreeNode(RuntimeError):
    """Every harness node already backs an instance (a fake maps this to a capacity error)."""


@attrs.define
class _Rule:
    kind: str
    places: frozenset[str]
    times: int | None


@attrs.define
class Faults:
    """What the next instance creates run into; every fake consults :meth:`check`."""

    boot_delay: float = 0.0
    rules: list[_Rule] = attrs.Factory(list)
    hits: list[tuple[str, tuple[str, ...]]] = attrs.Factory(list)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False)

    def stockout(self, *places: str, times: int | None = None) -> None:
        """Creates in these zones or regions fail with the cloud's capacity error."""
        self._add("capacity", places, times)

    def over_quota(self, *places: str, times: int | None = None) -> None:
        """Creates in these zones or regions fail with the cloud's quota error."""
        self._add("quota", places, times)

    def slow_start(self, seconds: float) -> None:
        """New instances stay pending for ``seconds`` before their node answers SSH."""
        self.boot_delay = float(seconds)

    def check(self, *places: str | None) -> str | None:
        """The fault a create at ``places`` (region, zone, ...) hits: ``capacity``, ``quota``."""
        wanted = {p for p in places if p}
        with self._lock:
            for rule in self.rules:
                if rule.places & wanted and (rule.times is None or rule.times > 0):
                    if rule.times is not None:
                        rule.times -= 1
                    self.hits.append((rule.kind, tuple(sorted(wanted))))
                    return rule.kind
        return None

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.hits.clear()
            self.boot_delay = 0.0

    def _add(self, kind: str, places: Iterable[str], times: int | None) -> None:
        if not places:
            raise ValueError("name at least one zone or region")
        with self._lock:
            self.rules.append(_Rule(kind, frozenset(places), times))


@attrs.define
class CloudNode:
    """A harness node while it backs one instance."""

    instance_id: str
    node: Node
    state: str = "running"  # running | stopped | preempted
    ready_at: float = 0.0

    @property
    def ip(self) -> str:
        return self.node.ip

    @property
    def port(self) -> int:
        return self.node.port

    @property
    def home(self) -> Path:
        """The node's home as seen from the host (the same files the node sees at ``~``)."""
        return self.node.home

    @property
    def booting(self) -> bool:
        """True while a slow start keeps the node from answering SSH."""
        return self.state == "running" and time.monotonic() < self.ready_at


class CloudNodes(SshNodes):
    """``count`` nodes that fake clouds hand out as instances; see the module docstring."""

    def __init__(self, count: int) -> None:
        super().__init__(count, mode="netns")
        self.user = ""
        self.login_home = Path("/nonexistent")
        self.faults = Faults()
        self._assigned: dict[str, CloudNode] = {}
        self._lock = threading.RLock()
        self.container_storage: dict[int, str] = {}  # node index -> podman storage name

    # -- building (overrides SshNodes) -------------------------------------------------

    def start(self) -> CloudNodes:
        if not netns_permitted():
            raise HarnessUnavailable("fake-cloud nodes need network namespaces (root, iproute2)")
        super().start()
        for node in self.nodes:  # a node backs no instance until acquired: no sshd yet
            self.stop_sshd(node)
        return self

    def _make_node(self, index: int) -> Node:
        if not self.user:
            self.user = f"stx{self.slot}c"
            self.login_home = self.dir / "login-home"
            self.login_home.mkdir()
            _sh(
                "useradd", "-M", "-d", str(self.login_home), "-s", "/bin/bash", "-p", "*", self.user
            )
        node = super()._make_node(index)
        node.user = self.user
        config = node.etc / "sshd_config"
        config.write_text(
            "\n".join(
                f"AllowUsers {self.user}" if line.startswith("AllowUsers ") else line
                for line in config.read_text().splitlines()
            )
            + "\n"
        )
        _sh("chown", "-R", f"{self.user}:{self.user}", str(node.home))
        return node

    def start_sshd(self, node: Node, wait: bool = True) -> None:
        """Start sshd inside the node's namespaces, with the node's home over the login home."""
        import subprocess

        if node.sshd is not None and node.sshd.poll() is None:
            return
        script = (
            f"mount --bind {node.home} {self.login_home} && "
            f"exec {SSHD} -D -e -f {node.etc / 'sshd_config'}"
        )
        if self.container_storage:
            from harness.containers import CGROUP_MOUNTS

            script = CGROUP_MOUNTS + script
        with open(node.etc / "sshd.log", "ab") as log:
            node.sshd = subprocess.Popen(
                [*node.ns_argv(), "sh", "-c", script],
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        if wait:
            _wait_port(node.ip, node.port)

    def node_pids(self, node: Node, every_user: bool = False) -> list[int]:
        """Every process in the node's namespace (the login user is shared between nodes)."""
        return _netns_pids(node.netns) if node.netns else []

    def enable_containers(self, images: dict[str, Path]) -> None:
        """Give every node a docker engine (:mod:`harness.containers`) holding ``images``.

        :param images: tag -> root file system tarball, loaded on every node.
        """
        from harness import containers

        containers.allow_user(self.user, self.slot)
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        for node in self.nodes:
            name = f"{self.slot}-n{node.index}"
            containers.drop_storage(name)
            self.container_storage[node.index] = name
            shim = node.etc / "bin" / "docker"
            shim.parent.mkdir(exist_ok=True)
            shim.write_text(containers.shim_text(name))
            os.chmod(shim, 0o755)
            os.chmod(node.etc, 0o755)
            config = node.etc / "sshd_config"
            config.write_text(config.read_text() + f"SetEnv PATH={shim.parent}:{path}\n")
            for tag, tarball in images.items():
                containers.load_image(name, tarball, tag)

    def node_containers(self, node: Node) -> list[str]:
        """The containers on ``node`` (none when containers are not enabled)."""
        from harness import containers

        name = self.container_storage.get(node.index)
        return containers.containers(name) if name else []

    # -- the instance life cycle a fake drives -------------------------------------------

    def acquire(self, instance_id: str, public_keys: Iterable[str]) -> CloudNode:
        """Back a new instance with a free node that accepts ``public_keys`` (and the harness key)."""
        with self._lock:
            if instance_id in self._assigned:
                raise ValueError(f"instance {instance_id} already has a node")
            taken = {c.node.index for c in self._assigned.values()}
            free = [n for n in self.nodes if n.index not in taken]
            if not free:
                raise NoFreeNode(f"all {len(self.nodes)} harness nodes back instances")
            node = free[0]
            self._wipe(node)
            keys = [k.strip() for k in public_keys if k.strip()]
            keys.append(Path(str(self.key) + ".pub").read_text().strip())
            auth = node.home / ".ssh" / "authorized_keys"
            auth.write_text("\n".join(keys) + "\n")
            _sh("chown", "-R", f"{self.user}:{self.user}", str(node.home))
            delay = self.faults.boot_delay
            held = CloudNode(instance_id, node, ready_at=time.monotonic() + delay)
            self._assigned[instance_id] = held
        if delay > 0:
            threading.Timer(delay, self._boot, args=(held,)).start()
        else:
            self._boot(held)
        return held

    def release(self, instance_id: str) -> None:
        """The instance is deleted: its processes die, its disk is wiped, the node is free."""
        with self._lock:
            held = self._assigned.pop(instance_id, None)
        if held is not None:
            self.kill_node(held.node)
            self._wipe(held.node)

    def stop_instance(self, instance_id: str) -> None:
        """The instance is stopped: processes and sshd die, the disk stays."""
        held = self.node(instance_id)
        held.state = "stopped"
        self.kill_node(held.node)
        self._reboot_containers(held.node)

    def start_instance(self, instance_id: str) -> None:
        """A stopped (or preempted-then-restarted) instance boots again on the same disk."""
        held = self.node(instance_id)
        held.state = "running"
        held.ready_at = time.monotonic() + self.faults.boot_delay
        if self.faults.boot_delay > 0:
            threading.Timer(self.faults.boot_delay, self._boot, args=(held,)).start()
        else:
            self._boot(held)

    def preempt(self, instance_id: str) -> None:
        """The machine is taken away now; the fake must report it as its cloud does."""
        held = self.node(instance_id)
        held.state = "preempted"
        self.kill_node(held.node)
        self._reboot_containers(held.node)

    def node(self, instance_id: str) -> CloudNode:
        with self._lock:
            try:
                return self._assigned[instance_id]
            except KeyError:
                raise KeyError(f"instance {instance_id} holds no harness node") from None

    def assigned(self) -> list[str]:
        """Instance ids that still hold a node (a leak when a test is over)."""
        with self._lock:
            return sorted(self._assigned)

    def reset(self) -> None:
        """Release every node and clear the faults."""
        for instance_id in self.assigned():
            self.release(instance_id)
        self.faults.clear()

    def teardown(self) -> None:
        with self._lock:
            self._assigned.clear()
        if self.container_storage:
            from harness import containers

            for name in self.container_storage.values():
                containers.drop_storage(name)
            Path(f"/etc/sudoers.d/stix-harness-{self.slot}").unlink(missing_ok=True)
            self.container_storage = {}
        super().teardown()

    # -- internals -----------------------------------------------------------------------

    def _boot(self, held: CloudNode) -> None:
        with self._lock:
            if self._assigned.get(held.instance_id) is not held or held.state != "running":
                return  # released or stopped while it was booting
        self.start_sshd(held.node)

    def _reboot_containers(self, node: Node) -> None:
        if node.index in self.container_storage:
            from harness import containers

            containers.reboot(self.container_storage[node.index])

    def _wipe(self, node: Node) -> None:
        _kill_pids(self.node_pids(node))
        if node.index in self.container_storage:  # the VM is gone, and its containers
            from harness import containers

            containers.remove_containers(self.container_storage[node.index])
        for path in node.home.iterdir():
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        (node.home / ".ssh").mkdir(mode=0o700)
        os.chmod(node.home, 0o755)


__all__ = ["CloudNode", "CloudNodes", "Faults", "NoFreeNode"]
