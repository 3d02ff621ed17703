"""Real SSH nodes for tests: network namespaces on a private bridge, each with its own sshd.

Each node is a network namespace joined to a bridge (``stixbr<K>``, subnet
``10.213.<K>.0/24``) by a veth pair, runs Debian's ``/usr/sbin/sshd`` on its own address
with a generated host key, and has its own unix user and home. ``K`` is a slot taken
under ``/tmp/stix-harness`` so that several test processes can run harnesses at once;
slots whose owner died are cleaned up before use. Where namespaces are not permitted the
nodes are several sshd on distinct loopback ports instead (``mode == "loopback"``).
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import attrs

ROOT = Path("/tmp/stix-harness")
SSHD = "/usr/sbin/sshd"
MAX_SLOTS = 200

_NS_RE = re.compile(r"^stix(\d+)n(\d+)$")
_BR_RE = re.compile(r"^stixbr(\d+)$")
_VETH_RE = re.compile(r"^stix(\d+)v(\d+)$")
_USER_RE = re.compile(r"^stx(\d+)(?:n(\d+)|c)$")  # node users; c: a fake cloud's login user


class HarnessUnavailable(RuntimeError):
    """This machine cannot host harness nodes (not root, or no sshd)."""


@attrs.define
class Node:
    """One harness node: where it listens, who logs in, and its sshd process."""

    index: int
    name: str
    ip: str
    port: int
    user: str
    home: Path
    etc: Path
    netns: str | None
    sshd: subprocess.Popen[bytes] | None = None

    @property
    def uid(self) -> int:
        return pwd.getpwnam(self.user).pw_uid

    def ns_argv(self) -> list[str]:
        """Prefix that runs a command inside the node's network namespace."""
        return ["ip", "netns", "exec", self.netns] if self.netns else []


def _sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.strip()}")
    return proc


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pids_of_uid(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid == uid:
                pids.append(int(entry))
        except FileNotFoundError:
            continue
    return pids


def _kill_pids(pids: list[int], sig: int = signal.SIGKILL, wait: float = 2.0) -> None:
    """Signal ``pids`` and wait (briefly) until they are gone or zombies."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    deadline = time.monotonic() + wait
    while sig == signal.SIGKILL and time.monotonic() < deadline:
        if not [p for p in pids if _alive(p) and not _zombie(p)]:
            return
        time.sleep(0.01)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _netns_pids(ns: str) -> list[int]:
    proc = _sh("ip", "netns", "pids", ns, check=False)
    return [int(p) for p in proc.stdout.split() if p.isdigit()]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(ip: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((ip, port), timeout=0.5) as sock:
                if sock.recv(4).startswith(b"SSH"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"sshd on {ip}:{port} did not come up within {timeout:.0f}s")
        time.sleep(0.02)


def netns_permitted() -> bool:
    """True when this process may create network namespaces and bridges."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        return False
    probe = f"stixprobe{os.getpid()}"
    ok = _sh("ip", "netns", "add", probe, check=False).returncode == 0
    if ok:
        _sh("ip", "netns", "del", probe, check=False)
    return ok


def _remove_user(user: str) -> None:
    try:
        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        return
    _kill_pids(_pids_of_uid(uid))
    for _ in range(50):
        proc = _sh("userdel", "-f", user, check=False)
        if proc.returncode in (0, 6):  # 6: no such user
            return
        time.sleep(0.1)  # another process holds the passwd lock


def add_user(user: str, home: Path) -> None:
    """Create a login user with ``home`` (not created), retrying while another holds passwd."""
    for attempt in range(50):
        proc = _sh(
            "useradd", "-M", "-d", str(home), "-s", "/bin/bash", "-p", "*", user, check=False
        )
        if proc.returncode == 0:
            return
        if attempt == 49:
            raise RuntimeError(f"useradd {user} failed: {proc.stderr.strip()}")
        time.sleep(0.1)


def _link_names() -> list[str]:
    lines = _sh("ip", "-o", "link", "show", check=False).stdout.splitlines()
    return [line.split(":")[1].strip().split("@")[0] for line in lines if line.count(":") >= 2]


def _teardown_slot(slot: int) -> None:
    """Remove every trace of slot ``slot``: processes, users, namespaces, bridge, files."""
    for line in _sh("getent", "passwd", check=False).stdout.splitlines():
        name = line.split(":", 1)[0]
        match = _USER_RE.match(name)
        if match and int(match.group(1)) == slot:
            _remove_user(name)
    for group in grp.getgrall():  # a group whose user is gone (a killed run) blocks useradd
        match = _USER_RE.match(group.gr_name)
        if match and int(match.group(1)) == slot:
            _sh("groupdel", group.gr_name, check=False)
    for ns in _sh("ip", "netns", "list", check=False).stdout.split():
        match = _NS_RE.match(ns)
        if match and int(match.group(1)) == slot:
            _kill_pids(_netns_pids(ns))
            _sh("ip", "netns", "del", ns, check=False)
    for name in _link_names():
        if name.startswith(f"stix{slot}v") or name == f"stixbr{slot}":
            _sh("ip", "link", "del", name, check=False)
    shutil.rmtree(ROOT / f"slot-{slot}", ignore_errors=True)
    Path(f"/etc/sudoers.d/stix-harness-{slot}").unlink(missing_ok=True)  # harness.containers
    for storage in Path("/var/lib/stix-harness-podman").glob(f"{slot}-n*"):
        from harness import containers

        containers.drop_storage(storage.name)


@contextlib.contextmanager
def _slots_locked() -> Iterator[None]:
    """Serialise slot clean-up and hand-out between harness processes.

    Without it one process may tear down, as stale, a slot another has just taken and is
    still building (its bridge vanishes under it).
    """
    ROOT.mkdir(parents=True, exist_ok=True)
    with open(ROOT / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def clean_stale() -> list[int]:
    """Tear down slots whose owning process is gone; return the slots cleaned."""
    with _slots_locked():
        return _clean_stale()


def _clean_stale() -> list[int]:
    cleaned = set()
    ROOT.mkdir(parents=True, exist_ok=True)
    live = set()
    for folder in ROOT.glob("slot-*"):
        slot = int(folder.name.split("-", 1)[1])
        try:
            owner = int((folder / "owner").read_text())
        except (OSError, ValueError):
            owner = 0
        if owner and _alive(owner):
            live.add(slot)
        elif not owner and time.time() - folder.stat().st_mtime < 30:
            live.add(slot)  # being set up right now
    found = set()
    for ns in _sh("ip", "netns", "list", check=False).stdout.split():
        if match := _NS_RE.match(ns):
            found.add(int(match.group(1)))
    for name in _link_names():
        if match := _BR_RE.match(name) or _VETH_RE.match(name):
            found.add(int(match.group(1)))
    for line in _sh("getent", "passwd", check=False).stdout.splitlines():
        if match := _USER_RE.match(line.split(":", 1)[0]):
            found.add(int(match.group(1)))
    for group in grp.getgrall():
        if match := _USER_RE.match(group.gr_name):
            found.add(int(match.group(1)))
    found |= {int(f.name.split("-", 1)[1]) for f in ROOT.glob("slot-*")}
    for slot in sorted(found - live):
        _teardown_slot(slot)
        cleaned.add(slot)
    return sorted(cleaned)


def _take_slot() -> int:
    for slot in range(1, MAX_SLOTS):
        folder = ROOT / f"slot-{slot}"
        try:
            folder.mkdir(parents=True)
        except FileExistsError:
            continue
        (folder / "owner").write_text(str(os.getpid()))
        return slot
    raise HarnessUnavailable(f"no free harness slot under {ROOT}")


_SSHD_CONFIG = """\
Port {port}
ListenAddress {ip}
HostKey {etc}/host_key
PidFile {etc}/sshd.pid
AuthorizedKeysFile .ssh/authorized_keys
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PermitRootLogin no
AllowUsers {user}
PrintMotd no
MaxStartups 200:30:400
MaxSessions 100
Subsystem sftp internal-sftp
LogLevel ERROR
"""


class SshNodes:
    """A set of ``count`` real SSH nodes; use as a context manager or call start/teardown.

    :param count: number of nodes.
    :param mode: ``"netns"``, ``"loopback"``, or ``None`` to pick netns when permitted
        (the environment variable ``STIX_HARNESS_MODE`` overrides the automatic choice).
    """

    def __init__(self, count: int, mode: str | None = None) -> None:
        if os.geteuid() != 0:
            raise HarnessUnavailable("the SSH node harness needs root (useradd, namespaces)")
        if not Path(SSHD).exists():
            raise HarnessUnavailable(f"{SSHD} is missing (install openssh-server)")
        self.count = count
        self.mode = mode or os.environ.get("STIX_HARNESS_MODE") or ""
        self.nodes: list[Node] = []
        self.slot = 0
        self.dir = ROOT
        self.key = ROOT / "unset"

    # -- life cycle -----------------------------------------------------------------

    def start(self) -> SshNodes:
        """Create the bridge, namespaces, users, keys and sshd of every node."""
        if not self.mode:
            self.mode = "netns" if netns_permitted() else "loopback"
        if self.mode == "loopback":
            print(
                "stix harness: network namespaces are not permitted here; "
                "using sshd on distinct loopback ports instead",
                file=sys.stderr,
            )
        with _slots_locked():
            _clean_stale()
            self.slot = _take_slot()
        self.dir = ROOT / f"slot-{self.slot}"
        os.chmod(self.dir, 0o755)
        try:
            self.key = self.dir / "client_key"
            _sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "harness", "-f", str(self.key))
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
            if self.mode == "netns":
                self._make_bridge()
            for index in range(self.count):
                self.nodes.append(self._make_node(index))
            for node in self.nodes:
                self.start_sshd(node, wait=False)
            for node in self.nodes:
                _wait_port(node.ip, node.port)
        except BaseException:
            self.teardown()
            raise
        return self

    def __enter__(self) -> SshNodes:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.teardown()

    def teardown(self) -> None:
        """Stop every process of every node and remove users, namespaces, bridge and files."""
        for node in self.nodes:
            self.stop_sshd(node)
        if self.slot:
            _teardown_slot(self.slot)
        self.nodes = []

    # -- building -------------------------------------------------------------------

    def _make_bridge(self) -> None:
        bridge = f"stixbr{self.slot}"
        _sh("ip", "link", "add", bridge, "type", "bridge")
        _sh("ip", "addr", "add", f"10.213.{self.slot}.1/24", "dev", bridge)
        _sh("ip", "link", "set", bridge, "up")

    def _make_node(self, index: int) -> Node:
        user = f"stx{self.slot}n{index}"
        base = self.dir / f"n{index}"
        home, etc = base / "home", base / "etc"
        etc.mkdir(parents=True)
        if self.mode == "netns":
            ns = f"stix{self.slot}n{index}"
            ip, port = f"10.213.{self.slot}.{10 + index}", 22
            veth = f"stix{self.slot}v{index}"
            _sh("ip", "netns", "add", ns)
            _sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _sh("ip", "link", "set", veth, "master", f"stixbr{self.slot}", "up")
            _sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
            _sh("ip", "-n", ns, "link", "set", "eth0", "up")
            _sh("ip", "-n", ns, "link", "set", "lo", "up")
        else:
            ns, ip, port = None, "127.0.0.1", _free_port()
        add_user(user, home)
        (home / ".ssh").mkdir(parents=True)
        pub = Path(str(self.key) + ".pub").read_text()
        (home / ".ssh" / "authorized_keys").write_text(pub)
        _sh("chown", "-R", f"{user}:{user}", str(home))
        os.chmod(home, 0o755)
        _sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", user, "-f", str(etc / "host_key"))
        (etc / "sshd_config").write_text(_SSHD_CONFIG.format(port=port, ip=ip, etc=etc, user=user))
        return Node(index, f"node{index}", ip, port, user, home, etc, ns)

    # -- control --------------------------------------------------------------------

    def start_sshd(self, node: Node, wait: bool = True) -> None:
        """(Re)start the node's sshd."""
        if node.sshd is not None and node.sshd.poll() is None:
            return
        log = open(node.etc / "sshd.log", "ab")  # noqa: SIM115
        node.sshd = subprocess.Popen(
            [*node.ns_argv(), SSHD, "-D", "-e", "-f", str(node.etc / "sshd_config")],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        if wait:
            _wait_port(node.ip, node.port)

    def stop_sshd(self, node: Node, sessions: bool = True) -> None:
        """Stop the node's sshd; with ``sessions``, also cut every open SSH session to it."""
        if node.sshd is not None:
            with contextlib.suppress(ProcessLookupError):
                node.sshd.kill()
            node.sshd.wait()
            node.sshd = None
        if sessions:
            sshd_pids = [p for p in self.node_pids(node, every_user=True) if _is_sshd(p)]
            _kill_pids(sshd_pids)

    def kill_node(self, node: Node) -> None:
        """Simulate a machine failure: sshd, sessions and every user process die."""
        self.stop_sshd(node)
        _kill_pids(self.node_pids(node))

    def node_pids(self, node: Node, every_user: bool = False) -> list[int]:
        """Processes of the node: its user's (or, with ``every_user``, all in its namespace)."""
        if every_user and node.netns:
            return _netns_pids(node.netns)
        pids = _pids_of_uid(node.uid)
        if every_user:  # loopback: sshd session processes of this node run as root too
            pids += [p for p in _pids_of_uid(0) if _is_sshd(p) and node.user in _cmdline(p)]
        return pids

    def ssh_argv(self, node: Node, known_hosts: Path | None = None) -> list[str]:
        """A plain ``ssh`` argv (prefix) that logs into ``node`` with the harness key."""
        return [
            "ssh",
            "-i",
            str(self.key),
            "-p",
            str(node.port),
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"UserKnownHostsFile={known_hosts or self.dir / 'known_hosts'}",
            "-o",
            "StrictHostKeyChecking=accept-new",
            f"{node.user}@{node.ip}",
        ]

    def iter_nodes(self) -> Iterator[Node]:
        return iter(self.nodes)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _is_sshd(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "sshd"
    except OSError:
        return False
