"""The Azure Blob store: containers for ``file_mounts`` and storage objects, and node commands.

Sources are ``https://<account>.blob.core.windows.net/<container>[/path]`` (as SkyPilot
takes them) or ``az://<container>[/path]`` in the configured account
(``azure.storage_account``). The client signs in with ``AZURE_STORAGE_CONNECTION_STRING``
when it names that account (shared key, also how Azurite is reached), else with
``DefaultAzureCredential`` (role *Storage Blob Data Contributor*).

On a node, ``COPY`` fetches every blob through a read-only SAS URL (curl, wget or
python3); ``MOUNT`` uses blobfuse2; ``MOUNT_CACHED`` uses rclone's full VFS cache, else
blobfuse2 with its file cache. A missing tool fails with one line naming what to install.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

from stix.errors import StixError
from stix.interfaces import Store
from stix.storage.buckets import BucketInfo, check_mode
from stix.storage.transfer import GET_FUNCTION, fail_line, quote_path, subshell, upload_pairs

SAS_HOURS = 6
MAX_COPY_BLOBS = 2000
MANAGED_KEY = "stix_managed"
_HTTPS = re.compile(r"^https://(?P<account>[a-z0-9]{3,24})\.blob\.core\.windows\.net/(?P<rest>.*)$")
_HINT = (
    "set azure.storage_account (and sign in: az login), or AZURE_STORAGE_CONNECTION_STRING; "
    "the identity needs the Storage Blob Data Contributor role"
)


def _setting(key: str, default: Any = None) -> Any:
    from stix.config import load_config

    return load_config().get(f"azure.{key}", default)


def _connection() -> dict[str, str]:
    text = os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "")
    parts = (p.partition("=") for p in text.split(";") if "=" in p)
    return {k.strip(): v.strip() for k, _, v in parts}


def default_account() -> str | None:
    """The storage account of ``az://`` URLs: ``azure.storage_account``, else the connection's."""
    return _setting("storage_account") or _connection().get("AccountName") or None


def split_url(url: str) -> tuple[str, str, str]:
    """``(account, container, path)`` of an Azure Blob URL.

    :raises StixError: not an Azure Blob URL, or no account is known for ``az://``.
    """
    match = _HTTPS.match(url)
    if match:
        account, rest = match.group("account"), match.group("rest")
    elif url.startswith("az://"):
        account, rest = default_account() or "", url[len("az://") :]
        if not account:
            raise StixError(f"azure: no storage account for {url}", hint=_HINT)
    else:
        raise StixError(
            f"not an Azure Blob URL: {url!r}",
            hint="use https://<account>.blob.core.windows.net/<container>[/path] or az://<container>",
        )
    container, _, path = rest.partition("/")
    if not re.fullmatch(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}", container):
        raise StixError(
            f"azure: {container!r} is not a valid container name",
            hint="3-63 lowercase letters, digits and single hyphens",
        )
    return account, container, path


def service(account: str | None = None) -> Any:
    """A ``BlobServiceClient`` for ``account`` (default: the configured one)."""
    from azure.storage.blob import BlobServiceClient

    account = account or default_account()
    conn = _connection()
    if conn and (account is None or conn.get("AccountName") == account):
        return BlobServiceClient.from_connection_string(
            os.environ["AZURE_STORAGE_CONNECTION_STRING"]
        )
    if not account:
        raise StixError("azure: no storage account configured", hint=_HINT)
    from stix_azure.credentials import credential

    return BlobServiceClient(f"https://{account}.blob.core.windows.net", credential=credential())


def _fail(exc: BaseException, what: str) -> StixError:
    if isinstance(exc, StixError):
        return exc
    code = getattr(exc, "error_code", None) or type(exc).__name__
    if code in (
        "AuthenticationFailed",
        "AuthorizationFailure",
        "AuthorizationPermissionMismatch",
        "ClientAuthenticationError",
    ):
        return StixError(f"azure: {what}: access denied ({code})", hint=_HINT)
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return StixError(f"azure: {what}: {code}: {first}")


class BlobStore(Store):
    """Azure Blob Storage (``store: azure``; ``https://<acct>.blob.core.windows.net``, ``az://``)."""

    name: ClassVar[str] = "azure"
    cloud: ClassVar[str] = "azure"
    url_schemes: ClassVar[tuple[str, ...]] = ("az://",)

    def _container(self, bucket: str) -> Any:
        return service().get_container_client(bucket)

    def bucket_url(self, bucket: str) -> str:
        """``https://<account>.blob.core.windows.net/<container>`` (``az://`` without an account)."""
        account = default_account()
        return f"https://{account}.blob.core.windows.net/{bucket}" if account else f"az://{bucket}"

    def exists(self, bucket: str) -> bool:
        try:
            return bool(self._container(bucket).exists())
        except Exception as exc:
            raise _fail(exc, f"container {bucket}") from exc

    def create(self, bucket: str, region: str | None = None) -> None:
        """Create container ``bucket`` marked as STIX's; an existing one is left as it is.

        A container lives in its account's region, so ``region`` is not used.
        """
        from azure.core.exceptions import ResourceExistsError

        try:
            self._container(bucket).create_container(metadata={MANAGED_KEY: "true"})
        except ResourceExistsError:
            return
        except Exception as exc:
            raise _fail(exc, f"create container {bucket}") from exc

    def upload(self, source: Path, bucket: str, prefix: str = "") -> None:
        """Copy a local file or folder into ``bucket`` under ``prefix`` (block blobs, in parallel)."""
        source = Path(source).expanduser()
        if not source.exists():
            raise StixError(f"azure: upload source {source} does not exist")
        pairs = upload_pairs(source, prefix)
        container = self._container(bucket)

        def put(pair: tuple[Path, str]) -> None:
            with pair[0].open("rb") as handle:
                container.upload_blob(pair[1], handle, overwrite=True, max_concurrency=2)

        try:
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(put, pairs))
        except Exception as exc:
            raise _fail(exc, f"upload {source} to container {bucket}/{prefix}") from exc

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every blob name under ``prefix``."""
        try:
            return [b.name for b in self._container(bucket).list_blobs(name_starts_with=prefix)]
        except Exception as exc:
            raise _fail(exc, f"list container {bucket}") from exc

    def delete(self, bucket: str) -> None:
        """Delete container ``bucket`` with every blob in it; already gone is fine."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self._container(bucket).delete_container()
        except ResourceNotFoundError:
            return
        except Exception as exc:
            raise _fail(exc, f"delete container {bucket}") from exc

    def is_managed(self, bucket: str) -> bool:
        """True when STIX created ``bucket`` (its metadata carries ``stix_managed=true``)."""
        try:
            props = self._container(bucket).get_container_properties()
        except Exception:
            return False
        return (props.metadata or {}).get(MANAGED_KEY) == "true"

    def buckets(self, managed_only: bool = True) -> list[BucketInfo]:
        """Containers of the account; by default only those STIX created."""
        try:
            listed = list(service().list_containers(include_metadata=True))
        except Exception as exc:
            raise _fail(exc, "list containers") from exc
        out = []
        for item in listed:
            managed = (item.metadata or {}).get(MANAGED_KEY) == "true"
            if managed_only and not managed:
                continue
            stamp = item.last_modified
            when = stamp.isoformat(timespec="seconds") if stamp else ""
            out.append(BucketInfo(item.name, when, None, managed))
        return out

    # -- on the node -------------------------------------------------------------

    def read_sas(self, bucket: str, write: bool = False) -> str:
        """A SAS token for ``bucket`` valid for ``SAS_HOURS`` hours: read+list, or also write."""
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        client = service()
        expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=SAS_HOURS)
        permission = ContainerSasPermissions(
            read=True, list=True, write=write, add=write, create=write, delete=write
        )
        key = _connection().get("AccountKey")
        try:
            if key:
                return str(
                    generate_container_sas(
                        client.account_name,
                        bucket,
                        account_key=key,
                        permission=permission,
                        expiry=expiry,
                    )
                )
            start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
            delegation = client.get_user_delegation_key(start, expiry)
            return str(
                generate_container_sas(
                    client.account_name,
                    bucket,
                    user_delegation_key=delegation,
                    permission=permission,
                    expiry=expiry,
                )
            )
        except Exception as exc:
            raise _fail(exc, f"sign container {bucket}") from exc

    def node_commands(self, url: str, dest: str, mode: str) -> str:
        """Shell commands that make ``url`` available at ``dest`` on a node (bash)."""
        mode = check_mode("azure", mode)
        account, bucket, path = split_url(url)
        container = service(account).get_container_client(bucket)
        sas = self.read_sas(bucket, write=mode != "COPY")
        if mode == "COPY":
            top = path.rstrip("/")
            names = [
                n for n in self.keys(bucket, top) if not top or n == top or n.startswith(top + "/")
            ]
            return copy_commands(container.url, sas, path, names, dest)
        from stix_azure.mount import mount_commands

        return mount_commands(
            account, container.url, bucket, path, sas, dest, cached=mode == "MOUNT_CACHED"
        )


def copy_commands(container_url: str, sas: str, path: str, names: list[str], dest: str) -> str:
    """Download ``names`` (blobs under ``path``) to ``dest``: one file, or a folder tree."""
    from urllib.parse import quote

    if len(names) > MAX_COPY_BLOBS:
        return subshell(
            [
                fail_line(
                    f"COPY of {len(names)} blobs is more than {MAX_COPY_BLOBS}",
                    "use mode: MOUNT or MOUNT_CACHED",
                )
            ]
        )
    single = bool(path) and names == [path]
    lines = ["set -e", GET_FUNCTION]
    if not single:
        lines.append(f"mkdir -p {quote_path(dest)}")
    prefix = path.rstrip("/") + "/" if path and not single else ""
    for name in names:
        if name.endswith("/"):
            continue
        out = dest if single else f"{dest.rstrip('/')}/{name[len(prefix) :] if prefix else name}"
        link = f"{container_url}/{quote(name)}?{sas}"
        target = quote_path(out)
        lines.append(f'mkdir -p "$(dirname {target})" && _stix_get {shlex.quote(link)} {target}')
    return subshell(lines)


__all__ = ["BlobStore", "BucketInfo", "copy_commands", "default_account", "service", "split_url"]
