"""A real container engine on harness nodes: podman (rootful, through ``sudo``) as ``docker``.

Cloud VMs that run ``image_id: docker:`` tasks have a docker engine; here each harness
node gets a ``docker`` command on its ``PATH`` that runs Debian's podman with a storage
of its own (so nodes do not see each other's containers, as separate VMs would not) and
in the node's network namespace (so ``--net=host`` is the node's network). Images come
from no registry (none is reachable): :func:`build_image` assembles a small Debian root
file system from the packages installed on this machine (bash, coreutils, python3...)
and every node loads it, as if the VM had pulled it before.

Podman runs with the cgroupfs manager and runc, and with explicit ulimits, since this
sandbox can neither raise limits (no ``CAP_SYS_RESOURCE``) nor use crun on its hybrid
cgroup hierarchy. Tests skip with the reason where podman, runc or sudo is missing.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

PODMAN = "/usr/bin/podman"
STORAGE = Path("/var/lib/stix-harness-podman")
RUNROOT = Path("/run/stix-harness-podman")
# what the test images hold, plus everything these packages depend on
BASE_PACKAGES = ("bash", "coreutils", "dash", "tar", "grep", "sed", "findutils", "util-linux")
# Debian's python3, an ssh client (several nodes) and server (`ssh <cluster>` into it)
PYTHON_PACKAGES = ("python3-minimal", "libpython3-stdlib", "openssh-client", "openssh-server")
_SKIP = re.compile(r"^/usr/share/(doc|man|info|locale|lintian|bug)/")


# Shell text run as root in a node's namespaces before its sshd starts: ``ip netns exec``
# gives the node a fresh /sys without the cgroup hierarchies podman needs, so mount the
# same ones the machine has (cgroupfs manager: containers get cgroups under them).
CGROUP_MOUNTS = (
    "mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup && "
    "grep -E ' cgroup2? ' /proc/1/mounts | while read -r dev dir fstype opts rest; do "
    'mkdir -p "$dir" && mount -t "$fstype" -o "$opts" "$dev" "$dir"; done; '
)


def unavailable() -> str | None:
    """Why containers cannot run here, or None."""
    for tool in (PODMAN, "/usr/sbin/runc", "/usr/bin/sudo", "/usr/bin/dpkg-query"):
        if not Path(tool).exists() and not shutil.which(Path(tool).name):
            return f"{Path(tool).name} is not installed (apt-get install podman runc sudo)"
    if os.geteuid() != 0:
        return "podman needs root here"
    if not _installed("python3-minimal"):
        return "Debian's python3 is not installed (the test image is built from it)"
    return None


def _depends(package: str) -> list[str]:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Pre-Depends}, ${Depends}", package],
        capture_output=True,
        text=True,
    )
    names = []
    for item in out.stdout.split(","):
        for choice in item.split("|"):
            name = choice.strip().split(" ")[0].split(":")[0]
            if name and _installed(name):
                names.append(name)
                break
    return names


def _installed(package: str) -> bool:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Status}", package], capture_output=True, text=True
    )
    return out.returncode == 0 and "installed" in out.stdout.split()


def _closure(roots: tuple[str, ...]) -> list[str]:
    seen: set[str] = set()
    todo = [r for r in roots if _installed(r)]
    while todo:
        package = todo.pop()
        if package in seen:
            continue
        seen.add(package)
        todo.extend(d for d in _depends(package) if d not in seen)
    return sorted(seen)


def _files(package: str) -> list[str]:
    out = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if line.startswith("/")]


def build_image(dest: Path, *, python: bool = True, marker: str = "") -> Path:
    """A root file system tarball (for ``podman import``) of this machine's Debian packages.

    :param python: include python3 (the node agent's interpreter); without it the image
        shows what STIX says about an image it cannot run in.
    :param marker: written to ``/etc/stix-image`` (how a test tells it runs in the image).
    """
    packages = _closure(BASE_PACKAGES + (PYTHON_PACKAGES if python else ()))
    paths: set[str] = set()
    for package in packages:
        paths.update(p for p in _files(package) if not _SKIP.match(p))
    with tarfile.open(dest, "w") as tar:
        for top in ("bin", "sbin", "lib", "lib64"):  # Debian's merged /usr
            if os.path.islink(f"/{top}"):
                info = tarfile.TarInfo(top)
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(f"/{top}")
                tar.addfile(info)
        added: set[str] = set()
        for path in sorted(paths):
            real = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
            if real in added or not os.path.lexists(real) or os.path.isdir(real):
                continue
            added.add(real)
            tar.add(real, arcname=real.lstrip("/"), recursive=False)
        for name, text in (
            # sshd's privilege-separation user, as the openssh-server package adds it
            (
                "etc/passwd",
                "root:x:0:0:root:/root:/bin/bash\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n",
            ),
            ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
            ("etc/stix-image", marker + "\n"),
        ):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for folder in ("root", "tmp", "proc", "sys", "dev", "etc", "run", "var/tmp", "opt"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if "tmp" in folder else 0o755
            tar.addfile(info)
    return dest


def podman_args(name: str) -> list[str]:
    """podman's global options for the harness storage ``name`` (one per node)."""
    return [
        PODMAN,
        "--root",
        str(STORAGE / name / "root"),
        "--runroot",
        str(RUNROOT / name / "run"),
        "--tmpdir",  # podman's "alive" marker: gone, its next command refreshes every state
        str(RUNROOT / name / "tmp"),
        f"--runtime-flag=root={RUNROOT / name / 'runc'}",  # runc's own state
        "--cgroup-manager=cgroupfs",
        "--runtime=runc",
        "--events-backend=file",
    ]


def shim_text(name: str) -> str:
    """The node's ``docker``: podman with the node's storage (``run`` gets the ulimits)."""
    base = " ".join(podman_args(name))
    return (
        "#!/bin/sh\n"
        '[ "$1" = run ] && { shift; set -- run --ulimit nofile=4096:4096 '
        '--ulimit nproc=4096:4096 "$@"; }\n'
        f'exec sudo -n {base} "$@"\n'
    )


def load_image(name: str, tarball: Path, tag: str) -> None:
    """Import ``tarball`` as ``tag`` into the storage ``name``."""
    subprocess.run(
        [*podman_args(name), "import", str(tarball), tag], check=True, capture_output=True
    )


def remove_containers(name: str) -> None:
    """Every container of the storage ``name`` is gone (the VM it stands for is gone)."""
    # Right after the node's processes were killed podman may still think a container
    # is running ("state improper"); the next try sees it stopped and removes it.
    for _ in range(5):
        subprocess.run([*podman_args(name), "rm", "-f", "-a", "-t", "0"], capture_output=True)
        if not containers(name):
            return


def reboot(name: str) -> None:
    """The node's machine went down: like ``/run`` after a reboot, podman's run state goes.

    Its next command then finds every container stopped, as a docker daemon does when the
    VM boots again.
    """
    shutil.rmtree(RUNROOT / name, ignore_errors=True)


def containers(name: str) -> list[str]:
    """Names of the containers that exist in the storage ``name``."""
    out = subprocess.run(
        [*podman_args(name), "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True
    )
    return [line for line in out.stdout.split() if line]


def drop_storage(name: str) -> None:
    remove_containers(name)
    subprocess.run([*podman_args(name), "system", "reset", "-f"], capture_output=True)
    shutil.rmtree(STORAGE / name, ignore_errors=True)
    shutil.rmtree(RUNROOT / name, ignore_errors=True)


def allow_user(user: str, slot: int) -> Path:
    """Let ``user`` run podman as root without a password (as a VM's docker group does)."""
    rule = Path(f"/etc/sudoers.d/stix-harness-{slot}")
    rule.write_text(f"{user} ALL=(root) NOPASSWD: {PODMAN}\n")
    os.chmod(rule, 0o440)
    return rule


__all__ = [
    "allow_user",
    "build_image",
    "containers",
    "drop_storage",
    "load_image",
    "remove_containers",
    "shim_text",
    "unavailable",
]
