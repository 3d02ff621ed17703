"""File transfer for :class:`~stix.runner.ssh.SshRunner`: SFTP upload, rsync sync, tar fallback.

``sync_path`` uses rsync over the same SSH options as the runner when rsync exists on
both ends; otherwise it packs the folder (minus excludes) into a tar archive, uploads
it over SFTP and unpacks it on the node, replacing what was there.
"""

from __future__ import annotations

import fnmatch
import io
import os
import shlex
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from stix.errors import ClusterError
from stix.storage.confine import SHELL_GUARD

if TYPE_CHECKING:
    from stix.runner.ssh import SshRunner


# Files and packed folders up to this size go through one command's input, not SFTP/rsync.
INLINE_LIMIT = 8 << 20

# Manifest (on the node) of paths that syncs created, NUL-separated; ``down`` of a pool
# cluster removes exactly these (and never a path that existed before STIX wrote it).
CREATED_MANIFEST = "~/.stix_agent/created_paths"
# argv $1: a destination. Appends its topmost ancestor that does not exist yet (if any).
_RECORD = (
    'p="$1"; top=; while [ ! -e "$p" ] && [ ! -L "$p" ] && [ "$p" != / ] && [ "$p" != . ]; '
    'do top="$p"; p=$(dirname -- "$p"); done; if [ -n "$top" ]; then '
    'case "$top" in /*) ;; *) top="$HOME/$top";; esac; mkdir -p ~/.stix_agent; '
    'printf "%s\\0" "$top" >> ~/.stix_agent/created_paths; fi; '
)
# argv: destination, octal mode; stdin: the file's bytes.
_PUT = (
    'set -e; d="$1"; mkdir -p -- "$(dirname -- "$d")"; t="$d.stix-$$.tmp"; '
    'cat > "$t"; chmod "$2" "$t"; mv -fT -- "$t" "$d"'
)
# argv: folder; stdin: a gzipped tar of what the folder must hold (unpacked by python3,
# which every node has, so no tar is needed there).
_UNTAR = (
    'set -e; d="$1"; rm -rf -- "$d"; mkdir -p -- "$d"; python3 -W ignore -c '
    "\"import sys, tarfile; tarfile.open(fileobj=sys.stdin.buffer, mode='r|gz')"
    '.extractall(sys.argv[1])" "$d"'
)


def sftp_path(dest: str) -> str:
    """``dest`` as SFTP sees it: paths under ``~`` become relative (SFTP starts in the home)."""
    if dest in ("~", "~/"):
        return "."
    if dest.startswith("~/"):
        return dest[2:]
    return dest


def _parent(path: str) -> str:
    parent = os.path.dirname(path.rstrip("/"))
    return parent or "."


def put_file(runner: SshRunner, source: Path, dest: str, *, record: bool = False) -> None:
    """Upload one file atomically (temp name, then rename), keeping its mode.

    Small files travel as the input of one remote command (one round trip on the open
    connection); large ones over SFTP.

    :param record: note ``dest`` (or its first missing parent) in :data:`CREATED_MANIFEST`
        when it does not exist yet.
    """
    source = source.expanduser()
    if not source.is_file():
        raise ClusterError(f"node {runner.name}: cannot upload {source}: not a file")
    mode = source.stat().st_mode & 0o7777
    if source.stat().st_size <= INLINE_LIMIT:
        script = SHELL_GUARD + (_RECORD if record else "") + _PUT
        runner.check_call(
            ["bash", "-c", script, "stix-put", _remote_arg(sftp_path(dest)), f"{mode:o}"],
            input=source.read_bytes(),
        )
        return
    remote = sftp_path(dest)
    script = SHELL_GUARD + (_RECORD if record else "")
    runner.check_call(["bash", "-c", script, "stix-record", _remote_arg(remote)])
    runner.check_call(["mkdir", "-p", _remote_arg(_parent(remote))])
    tmp = f"{remote}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        sftp = runner.connection().client.open_sftp()
        try:
            sftp.put(str(source), tmp)
            sftp.chmod(tmp, mode)
            sftp.posix_rename(tmp, remote)
        finally:
            sftp.close()
    except OSError as exc:
        raise ClusterError(f"node {runner.name}: upload of {source} to {dest} failed: {exc}")


def _remote_arg(path: str) -> str:
    """A runner argument for a path relative to the home (``~/`` keeps it home-relative)."""
    if path.startswith("/"):
        return path
    return "~/" + path if path not in (".", "") else "~"


def sync_path(runner: SshRunner, source: Path, dest: str, excludes: Sequence[str] = ()) -> None:
    """Make ``dest`` on the node mirror ``source`` (a folder or a file).

    A ``dest`` (or parent) that did not exist is noted in :data:`CREATED_MANIFEST`.
    """
    source = source.expanduser()
    if not source.exists():
        raise ClusterError(f"node {runner.name}: cannot sync {source}: no such file or folder")
    if source.is_file():
        put_file(runner, source, dest, record=True)
        return
    remote = sftp_path(dest).rstrip("/") or "/"
    if remote in (".", "/"):
        raise ClusterError(f"node {runner.name}: refusing to sync a folder onto {dest}")
    data = _pack_small(source, excludes)
    if data is not None:
        script = SHELL_GUARD + _RECORD + _UNTAR
        runner.check_call(["bash", "-c", script, "stix-sync", _remote_arg(remote)], input=data)
        return
    script = SHELL_GUARD + _RECORD
    runner.check_call(["bash", "-c", script, "stix-record", _remote_arg(remote)])
    runner.check_call(["mkdir", "-p", _remote_arg(remote)])
    if shutil.which("rsync") and runner.has_rsync():
        _rsync(runner, source, remote, excludes)
    else:
        _tar_copy(runner, source, remote, excludes)


def _pack_small(source: Path, excludes: Sequence[str]) -> bytes | None:
    """The packed folder when its files add up to at most :data:`INLINE_LIMIT`, else None.

    Small folders (most workdirs) go over the already open connection in one round
    trip; rsync's per-node process and SSH handshake only pay off for larger trees.
    """
    total = 0
    for path, _, is_dir in _kept(source, excludes):
        if is_dir:
            continue
        try:
            total += os.lstat(path).st_size
        except OSError:
            continue
        if total > INLINE_LIMIT:
            return None
    return pack(source, excludes)


def _kept(source: Path, excludes: Sequence[str]) -> Iterator[tuple[str, str, bool]]:
    """(path, path relative to ``source``, is a folder) of everything not excluded, top down."""
    for root, dirs, files in os.walk(source):
        rel_root = os.path.relpath(root, source)
        rel_root = "" if rel_root == "." else rel_root + "/"
        dirs[:] = [d for d in dirs if not excluded(rel_root + d, True, excludes)]
        for name in dirs:
            yield os.path.join(root, name), rel_root + name, True
        for name in files:
            if not excluded(rel_root + name, False, excludes):
                yield os.path.join(root, name), rel_root + name, False


def _rsync(runner: SshRunner, source: Path, remote: str, excludes: Sequence[str]) -> None:
    from stix.runner.ssh import ssh_options

    target = runner.target
    shell = shlex.join(["ssh", *ssh_options(target)])
    args = ["rsync", "-a", "--delete", "-e", shell]
    args += [f"--exclude={pattern}" for pattern in excludes]
    where = f"{target.user}@{target.host}:{remote}/"
    proc = subprocess.run(
        [*args, f"{source}/", where], capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    if proc.returncode != 0:
        why = proc.stderr.strip().splitlines()
        raise ClusterError(
            f"node {runner.name}: rsync of {source} to {remote} failed: "
            f"{why[-1] if why else proc.returncode}"
        )


def excluded(rel: str, is_dir: bool, patterns: Sequence[str]) -> bool:
    """Whether path ``rel`` (relative to the synced folder) matches an rsync-style exclude."""
    name = rel.rsplit("/", 1)[-1]
    for pattern in patterns:
        if pattern.endswith("/") and not is_dir:
            continue
        pat = pattern.rstrip("/")
        if "/" in pat:
            if fnmatch.fnmatchcase(rel, pat.lstrip("/")):
                return True
        elif fnmatch.fnmatchcase(name, pat):
            return True
    return False


def pack(source: Path, excludes: Sequence[str]) -> bytes:
    """A gzipped tar of folder ``source`` without excluded paths (names relative to it)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=3) as tar:
        for path, rel, _ in _kept(source, excludes):
            tar.add(path, rel, recursive=False)
    return buf.getvalue()


def _tar_copy(runner: SshRunner, source: Path, remote: str, excludes: Sequence[str]) -> None:
    data = pack(source, excludes)
    archive = f".stix_sync_{uuid.uuid4().hex[:8]}.tgz"
    try:
        sftp = runner.connection().client.open_sftp()
        try:
            sftp.putfo(io.BytesIO(data), archive)
        finally:
            sftp.close()
    except OSError as exc:
        raise ClusterError(f"node {runner.name}: upload of {source} failed: {exc}")
    folder = _remote_arg(remote)
    script = 'set -e; d="$1"; a="$2"; rm -rf "$d"; mkdir -p "$d"; tar xzf "$a" -C "$d"; rm -f "$a"'
    runner.check_call(["bash", "-c", script, "stix-sync", folder, "~/" + archive])
