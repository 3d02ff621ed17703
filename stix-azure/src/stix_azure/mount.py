"""FUSE mounts of a Blob container on a node: blobfuse2 for MOUNT, rclone's VFS cache for MOUNT_CACHED.

``MOUNT`` runs blobfuse2 with its block cache (reads and writes go to the container);
``MOUNT_CACHED`` runs ``rclone mount --vfs-cache-mode full`` (asynchronous write-back,
cache under ``~/.cache/rclone``), else blobfuse2 with its file cache. Both sign in with
a container SAS written to a file only the node's user can read.
"""

from __future__ import annotations

import hashlib
import shlex

from stix.storage.transfer import fail_line, quote_path, subshell


def blobfuse_config(
    account: str, endpoint: str, container: str, path: str, sas: str, cache: str | None
) -> str:
    """A blobfuse2 YAML config: block cache (``cache`` None) or file cache at ``cache``."""
    components = ["libfuse", "file_cache" if cache else "block_cache", "attr_cache", "azstorage"]
    lines = [
        "logging:",
        "  type: syslog",
        "  level: log_warning",
        "components:",
        *(f"  - {c}" for c in components),
        "libfuse:",
        "  attribute-expiration-sec: 10",
        "attr_cache:",
        "  timeout-sec: 10",
    ]
    if cache:
        lines += ["file_cache:", f"  path: {cache}", "  timeout-sec: 120"]
    else:
        lines += ["block_cache:", "  block-size-mb: 16", "  mem-size-mb: 1024"]
    lines += [
        "azstorage:",
        "  type: block",
        f"  account-name: {account}",
        f"  container: {container}",
        f"  endpoint: {endpoint}",
        "  mode: sas",
        f"  sas: '?{sas}'",
    ]
    if path.strip("/"):
        lines.append(f"  subdirectory: {path.strip('/')}")
    return "\n".join(lines) + "\n"


def mount_commands(
    account: str, container_url: str, container: str, path: str, sas: str, dest: str, cached: bool
) -> str:
    """bash that mounts ``container/path`` at ``dest`` (nothing to do when already mounted)."""
    endpoint = container_url.rsplit("/", 1)[0]
    tag = hashlib.sha256(f"{container_url}/{path}".encode()).hexdigest()[:12]
    conf = f"$HOME/.stix/blobfuse2/{tag}.yaml"
    target = quote_path(dest)
    where = f"{container}/{path.strip('/')}" if path.strip("/") else container
    lines = [
        "set -e",
        f"mkdir -p {target}",
        f"if mountpoint -q {target} 2>/dev/null; then exit 0; fi",
        'mkdir -p "$HOME/.stix/blobfuse2" && chmod 700 "$HOME/.stix/blobfuse2"',
    ]
    cache = f"$HOME/.cache/blobfuse2/{tag}" if cached else None
    config = blobfuse_config(account, endpoint, container, path, sas, cache)
    lines.append(f"umask 077; cat > \"{conf}\" <<'STIX_EOF'\n{config}STIX_EOF")
    blobfuse = f'blobfuse2 mount {target} --config-file="{conf}"'
    if cached:
        lines.append(f'mkdir -p "{cache}"')
        rclone = (
            f"RCLONE_AZUREBLOB_SAS_URL={shlex.quote(container_url + '?' + sas)} "
            f"rclone mount {shlex.quote(':azureblob:' + where)} {target} --daemon --vfs-cache-mode full "
            '--cache-dir "$HOME/.cache/rclone" --dir-cache-time 10s --vfs-write-back 1s'
        )
        lines.append(
            f"if command -v rclone >/dev/null 2>&1; then\n  {rclone}\n"
            f"elif command -v blobfuse2 >/dev/null 2>&1; then\n  {blobfuse}\nelse\n  "
            + fail_line(
                f"MOUNT_CACHED of {where} needs rclone or blobfuse2 on the node",
                "install one of them or use mode: COPY",
            )
            + "\nfi"
        )
        return subshell(lines)
    lines.append(
        f"if command -v blobfuse2 >/dev/null 2>&1; then\n  {blobfuse}\nelse\n  "
        + fail_line(
            f"MOUNT of {where} needs blobfuse2 on the node",
            "install blobfuse2 (packages.microsoft.com) or use mode: COPY",
        )
        + "\nfi"
    )
    return subshell(lines)


__all__ = ["blobfuse_config", "mount_commands"]
