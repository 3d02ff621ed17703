"""The S3 store: buckets for ``file_mounts`` and storage objects, and the node commands that use them.

On a node, ``COPY`` runs ``aws s3 sync``/``aws s3 cp`` when the AWS CLI is
installed, else streams each object from a presigned URL (curl, wget or
python3). ``MOUNT`` uses the first FUSE tool installed among goofys,
Mountpoint for Amazon S3 (``mount-s3``) and rclone; ``MOUNT_CACHED`` uses rclone
with its full VFS cache. A missing tool fails with one line naming what to
install.
"""

from __future__ import annotations

import os
import shlex
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

from stix.errors import StixError
from stix.interfaces import Store
from stix.storage.buckets import BucketInfo, check_mode, split_bucket_url

from stix_aws.errors import CREDENTIALS_HINT, error_code
from stix_aws.tags import TAG_MANAGED

PRESIGN_SECONDS = 6 * 3600
PRESIGN_MAX_OBJECTS = 1000


def split_url(url: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b")``."""
    return split_bucket_url(url, "s3://", "S3")


def _client(region: str | None = None) -> Any:
    from stix_aws.session import client

    return client("s3", region)


def _fail(exc: BaseException, what: str) -> StixError:
    code = error_code(exc) or type(exc).__name__
    if code in (
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "NoCredentialsError",
    ):
        return StixError(f"s3: {what}: access denied ({code})", hint=CREDENTIALS_HINT)
    return StixError(f"s3: {what}: {code}: {exc}")


class S3Store(Store):
    """Amazon S3 (``store: s3``, ``s3://`` URLs)."""

    name: ClassVar[str] = "s3"
    url_schemes: ClassVar[tuple[str, ...]] = ("s3://",)

    def exists(self, bucket: str) -> bool:
        """True when ``bucket`` exists and is readable with these credentials."""
        try:
            _client().head_bucket(Bucket=bucket)
            return True
        except Exception as exc:
            if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise _fail(exc, f"bucket {bucket}") from exc

    def create(self, bucket: str, region: str | None = None) -> None:
        """Create ``bucket`` tagged ``stix-managed=true``; an existing bucket is left as it is."""
        if self.exists(bucket):
            return
        s3 = _client(region)
        params: dict[str, Any] = {"Bucket": bucket}
        where = region or s3.meta.region_name
        if where and where != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": where}
        try:
            s3.create_bucket(**params)
        except Exception as exc:
            code = error_code(exc)
            if code == "BucketAlreadyOwnedByYou":
                return
            if code == "BucketAlreadyExists":
                raise StixError(
                    f"s3: bucket name {bucket!r} is taken by another account",
                    hint="choose another storage name",
                ) from exc
            raise _fail(exc, f"create bucket {bucket}") from exc
        s3.put_bucket_tagging(
            Bucket=bucket, Tagging={"TagSet": [{"Key": TAG_MANAGED, "Value": "true"}]}
        )

    def upload(self, source: Path, bucket: str, prefix: str = "") -> None:
        """Copy a local file or folder into ``bucket`` under ``prefix`` (multipart for big files)."""
        source = Path(source).expanduser()
        if not source.exists():
            raise StixError(f"s3: upload source {source} does not exist")
        base = prefix.strip("/")
        pairs: list[tuple[Path, str]] = []
        if source.is_file():
            pairs.append((source, f"{base}/{source.name}" if base else source.name))
        else:
            for root, _dirs, files in os.walk(source):
                for fname in files:
                    path = Path(root) / fname
                    rel = path.relative_to(source).as_posix()
                    pairs.append((path, f"{base}/{rel}" if base else rel))
        s3 = _client()

        def put(pair: tuple[Path, str]) -> None:
            s3.upload_file(str(pair[0]), bucket, pair[1])

        try:
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(put, pairs))
        except Exception as exc:
            raise _fail(exc, f"upload {source} to s3://{bucket}/{base}") from exc

    def delete(self, bucket: str) -> None:
        """Delete every object (and version) of ``bucket``, then the bucket; gone is fine."""
        s3 = _client()
        try:
            paginator = s3.get_paginator("list_object_versions")
            for page in paginator.paginate(Bucket=bucket):
                doomed = [
                    {"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in (*page.get("Versions", []), *page.get("DeleteMarkers", []))
                ]
                for start in range(0, len(doomed), 1000):
                    s3.delete_objects(
                        Bucket=bucket,
                        Delete={"Objects": doomed[start : start + 1000], "Quiet": True},
                    )
            s3.delete_bucket(Bucket=bucket)
        except Exception as exc:
            if error_code(exc) == "NoSuchBucket":
                return
            raise _fail(exc, f"delete bucket {bucket}") from exc

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key under ``prefix``."""
        out: list[str] = []
        try:
            for page in (
                _client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            ):
                out.extend(obj["Key"] for obj in page.get("Contents", []))
        except Exception as exc:
            raise _fail(exc, f"list s3://{bucket}/{prefix}") from exc
        return out

    def buckets(self, managed_only: bool = True) -> list[BucketInfo]:
        """Buckets of the account; by default only those STIX created."""
        s3 = _client()
        try:
            listed = s3.list_buckets().get("Buckets", [])
        except Exception as exc:
            raise _fail(exc, "list buckets") from exc
        out = []
        for item in listed:
            name = item["Name"]
            try:
                tags = s3.get_bucket_tagging(Bucket=name).get("TagSet", [])
            except Exception:
                tags = []
            managed = any(t["Key"] == TAG_MANAGED and t["Value"] == "true" for t in tags)
            if managed_only and not managed:
                continue
            try:
                region = (
                    s3.get_bucket_location(Bucket=name).get("LocationConstraint") or "us-east-1"
                )
            except Exception:
                region = "?"
            created = item.get("CreationDate")
            out.append(
                BucketInfo(
                    name, created.isoformat(timespec="seconds") if created else "", region, managed
                )
            )
        return out

    def is_managed(self, bucket: str) -> bool:
        """True when STIX created ``bucket`` (it carries ``stix-managed=true``)."""
        try:
            tags = _client().get_bucket_tagging(Bucket=bucket).get("TagSet", [])
        except Exception:
            return False
        return any(t["Key"] == TAG_MANAGED and t["Value"] == "true" for t in tags)

    # -- on the node -------------------------------------------------------------

    def node_commands(self, url: str, dest: str, mode: str) -> str:
        """Shell commands that make ``url`` available at ``dest`` on a node (bash)."""
        mode = check_mode("s3", mode)
        bucket, key = split_url(url)
        if mode == "COPY":
            return self._copy_commands(bucket, key, dest)
        return _mount_commands(bucket, key, dest, cached=mode == "MOUNT_CACHED")

    def _copy_commands(self, bucket: str, key: str, dest: str) -> str:
        s3 = _client()
        keys = self.keys(bucket, key)
        single = key and keys == [key]
        target = _q(dest)
        source = _q(f"s3://{bucket}/{key}")
        lines = ["set -e"]
        if single:
            lines.append(f'mkdir -p "$(dirname {target})"')
            cli = f"aws s3 cp --only-show-errors {source} {target}"
        else:
            lines.append(f"mkdir -p {target}")
            cli = f"aws s3 sync --only-show-errors {source} {target}"
        if len(keys) > PRESIGN_MAX_OBJECTS:
            fallback = [
                _missing(
                    f"COPY of s3://{bucket}/{key} ({len(keys)} objects) needs the AWS CLI",
                    "install it: pip install awscli",
                )
            ]
        else:
            fallback = [_GET]
            prefix = key.rstrip("/") + "/" if key and not single else ""
            for k in keys:
                if k.endswith("/"):
                    continue
                link = s3.generate_presigned_url(
                    "get_object", Params={"Bucket": bucket, "Key": k}, ExpiresIn=PRESIGN_SECONDS
                )
                if single:
                    out = dest
                else:
                    out = f"{dest.rstrip('/')}/{k[len(prefix) :] if prefix else k}"
                fallback.append(
                    f'mkdir -p "$(dirname {_q(out)})" && _stix_get {_q(link)} {_q(out)}'
                )
        body = "\n".join("  " + line for line in fallback)
        lines.append(f"if command -v aws >/dev/null 2>&1; then\n  {cli}\nelse\n{body}\nfi")
        return _subshell(lines)


_GET = (
    '_stix_get() { if command -v curl >/dev/null 2>&1; then curl -fsSL -o "$2" "$1"; '
    'elif command -v wget >/dev/null 2>&1; then wget -q -O "$2" "$1"; '
    "else python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "
    '"$1" "$2"; fi; }'
)


def _q(text: str) -> str:
    # keep ~ expandable: quote the rest
    if text.startswith("~/"):
        return '"$HOME"/' + shlex.quote(text[2:])
    return shlex.quote(text)


def _missing(what: str, fix: str) -> str:
    return f"echo {shlex.quote(f'stix: {what}; {fix}')} >&2; exit 1"


def _mount_commands(bucket: str, key: str, dest: str, cached: bool) -> str:
    target = _q(dest)
    path = f"{bucket}/{key.strip('/')}" if key.strip("/") else bucket
    remote = _q(f":s3,provider=AWS,env_auth=true:{path}")
    lines = [
        "set -e",
        f"mkdir -p {target}",
        f"if mountpoint -q {target} 2>/dev/null; then exit 0; fi",
    ]
    if cached:
        rclone = (
            f"rclone mount {remote} {target} --daemon --vfs-cache-mode full "
            '--cache-dir "$HOME/.cache/rclone" --dir-cache-time 10s --vfs-write-back 1s'
        )
        lines.append(
            f"if command -v rclone >/dev/null 2>&1; then\n  {rclone}\nelse\n  "
            + _missing(
                f"MOUNT_CACHED of s3://{path} needs rclone on the node",
                "install rclone or use mode: COPY",
            )
            + "\nfi"
        )
        return _subshell(lines)
    goofys_src = _q(f"{bucket}:{key.strip('/')}" if key.strip("/") else bucket)
    prefix = f" --prefix {_q(key.strip('/') + '/')}" if key.strip("/") else ""
    lines.append(
        "if command -v goofys >/dev/null 2>&1; then\n"
        f"  goofys --stat-cache-ttl 5s --type-cache-ttl 5s {goofys_src} {target}\n"
        "elif command -v mount-s3 >/dev/null 2>&1; then\n"
        f"  mount-s3 {_q(bucket)} {target}{prefix} --allow-delete\n"
        "elif command -v rclone >/dev/null 2>&1; then\n"
        f"  rclone mount {remote} {target} --daemon --vfs-cache-mode writes\n"
        "else\n  "
        + _missing(
            f"MOUNT of s3://{path} needs goofys, mount-s3 or rclone on the node",
            "install one of them or use mode: COPY",
        )
        + "\nfi"
    )
    return _subshell(lines)


def _subshell(lines: list[str]) -> str:
    """One ``( ... )`` block, so ``set -e`` and ``exit`` stay inside it."""
    return "(\n" + "\n".join(lines) + "\n)\n"


__all__ = ["BucketInfo", "S3Store", "split_url"]
