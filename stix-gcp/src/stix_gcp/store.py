"""The GCS store: buckets for ``gs://`` file mounts and ``store: gcs`` storage objects.

On a node, ``COPY`` runs ``gcloud storage rsync`` or ``gsutil rsync`` when installed,
else a standard-library script (``node_gcs_copy.py``) that downloads over the JSON
API with the VM's service account. ``MOUNT`` uses gcsfuse; ``MOUNT_CACHED`` uses
gcsfuse with its file cache (or rclone's full VFS cache). A missing tool fails
with one ``stix:`` line naming what to install. ``STORAGE_EMULATOR_HOST`` (an
emulator) is honoured by the client library and passed to the node script.
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

from stix_gcp.session import CREDENTIALS_HINT

LABEL_MANAGED = "stix-managed"
GCSFUSE_HINT = (
    "install gcsfuse (https://cloud.google.com/storage/docs/gcsfuse-install) or use mode: COPY"
)


def split_url(url: str) -> tuple[str, str]:
    """``gs://bucket/a/b`` -> ``("bucket", "a/b")``."""
    return split_bucket_url(url, "gs://", "GCS")


def _client() -> Any:
    from google.cloud import storage  # type: ignore[attr-defined,unused-ignore]

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        project = os.environ.get("GOOGLE_CLOUD_PROJECT") or "stix-emulator"
        return storage.Client(project=project, credentials=AnonymousCredentials())
    from stix_gcp.session import credentials, project_id

    creds, _adc = credentials()
    return storage.Client(project=project_id(), credentials=creds)


def _fail(exc: BaseException, what: str) -> StixError:
    from google.api_core import exceptions as gexc

    if isinstance(exc, StixError):
        return exc
    if isinstance(exc, (gexc.Forbidden, gexc.Unauthorized)):
        return StixError(f"gcs: {what}: access denied ({exc.code})", hint=CREDENTIALS_HINT)
    text = str(getattr(exc, "message", "") or exc).strip().splitlines()
    return StixError(f"gcs: {what}: {type(exc).__name__}: {text[0] if text else ''}")


class GcsStore(Store):
    """Google Cloud Storage (``store: gcs``, ``gs://`` URLs)."""

    name: ClassVar[str] = "gcs"
    url_schemes: ClassVar[tuple[str, ...]] = ("gs://",)
    cloud: ClassVar[str] = "gcp"

    def exists(self, bucket: str) -> bool:
        """True when ``bucket`` exists and these credentials can read it."""
        try:
            return _client().lookup_bucket(bucket) is not None
        except Exception as exc:
            raise _fail(exc, f"bucket {bucket}") from exc

    def create(self, bucket: str, region: str | None = None) -> None:
        """Create ``bucket`` labelled ``stix-managed=true``; an existing one is left as it is."""
        from google.api_core import exceptions as gexc

        client = _client()
        try:
            if client.lookup_bucket(bucket) is not None:
                return
            made = client.bucket(bucket)
            made.labels = {LABEL_MANAGED: "true"}
            created = client.create_bucket(made, location=region or "US")
            if (created.labels or {}).get(LABEL_MANAGED) != "true":
                created.labels = {LABEL_MANAGED: "true"}  # a server that drops labels on insert
                created.patch()
        except gexc.Conflict as exc:
            if client.lookup_bucket(bucket) is not None:
                return
            raise StixError(
                f"gcs: bucket name {bucket!r} is taken by another project",
                hint="choose another storage name",
            ) from exc
        except Exception as exc:
            raise _fail(exc, f"create bucket {bucket}") from exc

    def upload(self, source: Path, bucket: str, prefix: str = "") -> None:
        """Copy a local file or folder into ``bucket`` under ``prefix``."""
        source = Path(source).expanduser()
        if not source.exists():
            raise StixError(f"gcs: upload source {source} does not exist")
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
        target = _client().bucket(bucket)

        def put(pair: tuple[Path, str]) -> None:
            target.blob(pair[1]).upload_from_filename(str(pair[0]))

        try:
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(put, pairs))
        except Exception as exc:
            raise _fail(exc, f"upload {source} to gs://{bucket}/{base}") from exc

    def delete(self, bucket: str) -> None:
        """Delete every object of ``bucket``, then the bucket; a bucket already gone is fine."""
        from google.api_core import exceptions as gexc

        client = _client()
        try:
            found = client.lookup_bucket(bucket)
            if found is None:
                return
            for blob in client.list_blobs(bucket):
                blob.delete()
            found.delete()
        except gexc.NotFound:
            return
        except Exception as exc:
            raise _fail(exc, f"delete bucket {bucket}") from exc

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object name under ``prefix``."""
        try:
            return [b.name for b in _client().list_blobs(bucket, prefix=prefix or None)]
        except Exception as exc:
            raise _fail(exc, f"list gs://{bucket}/{prefix}") from exc

    def buckets(self, managed_only: bool = True) -> list[BucketInfo]:
        """Buckets of the project; by default only those STIX created."""
        try:
            listed = list(_client().list_buckets())
        except Exception as exc:
            raise _fail(exc, "list buckets") from exc
        out = []
        for item in listed:
            managed = (item.labels or {}).get(LABEL_MANAGED) == "true"
            if managed_only and not managed:
                continue
            created = item.time_created
            out.append(
                BucketInfo(
                    item.name,
                    created.isoformat(timespec="seconds") if created else "",
                    str(item.location or "?"),
                    managed,
                )
            )
        return out

    def is_managed(self, bucket: str) -> bool:
        """True when STIX created ``bucket`` (it carries ``stix-managed=true``)."""
        try:
            found = _client().lookup_bucket(bucket)
        except Exception:
            return False
        return found is not None and (found.labels or {}).get(LABEL_MANAGED) == "true"

    def bucket_url(self, bucket: str) -> str:
        return f"gs://{bucket}"

    # -- on the node -------------------------------------------------------------

    def node_commands(self, url: str, dest: str, mode: str) -> str:
        """Shell commands that make ``url`` available at ``dest`` on a node (bash)."""
        mode = check_mode("gcs", mode)
        bucket, key = split_url(url)
        if mode == "COPY":
            single = bool(key) and self.keys(bucket, key) == [key]
            return _copy_commands(bucket, key, dest, single)
        return _mount_commands(bucket, key, dest, cached=mode == "MOUNT_CACHED")


def _q(text: str) -> str:
    if text.startswith("~/"):  # keep ~ expandable: quote the rest
        return '"$HOME"/' + shlex.quote(text[2:])
    return shlex.quote(text)


def _missing(what: str, fix: str) -> str:
    return f"echo {shlex.quote(f'stix: {what}; {fix}')} >&2; exit 1"


def _copy_commands(bucket: str, key: str, dest: str, single: bool) -> str:
    script = (Path(__file__).parent / "node_gcs_copy.py").read_text()
    source = _q(f"gs://{bucket}/{key}")
    target = _q(dest)
    fallback = f"python3 -c {shlex.quote(script)} {source} {target}"
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    if emulator:  # the CLIs would go to Google: only the script follows the emulator
        return _subshell(["set -e", f"STORAGE_EMULATOR_HOST={shlex.quote(emulator)} {fallback}"])
    return _subshell(
        [
            "set -e",
            f'mkdir -p "$(dirname {target})"' if single else f"mkdir -p {target}",
            "if command -v gcloud >/dev/null 2>&1; then",
            f"  gcloud storage {'cp' if single else 'rsync -r'} {source} {target}",
            "elif command -v gsutil >/dev/null 2>&1; then",
            f"  gsutil -m -q {'cp' if single else 'rsync -r'} {source} {target}",
            "else",
            f"  {fallback}",
            "fi",
        ]
    )


def _mount_commands(bucket: str, key: str, dest: str, cached: bool) -> str:
    target = _q(dest)
    only = f" --only-dir {_q(key.strip('/'))}" if key.strip("/") else ""
    path = f"{bucket}/{key.strip('/')}" if key.strip("/") else bucket
    lines = [
        "set -e",
        f"mkdir -p {target}",
        f"if mountpoint -q {target} 2>/dev/null; then exit 0; fi",
    ]
    if cached:
        gcsfuse = (
            f"gcsfuse --implicit-dirs{only} --file-cache-max-size-mb -1 "
            f'--cache-dir "$HOME/.cache/stix-gcsfuse" {_q(bucket)} {target}'
        )
        rclone = (
            f"rclone mount {_q(f':gcs,env_auth=true:{path}')} {target} --daemon --vfs-cache-mode full "
            '--cache-dir "$HOME/.cache/rclone"'
        )
        lines.append(
            f"if command -v gcsfuse >/dev/null 2>&1; then\n  {gcsfuse}\n"
            f"elif command -v rclone >/dev/null 2>&1; then\n  {rclone}\nelse\n  "
            + _missing(
                f"MOUNT_CACHED of gs://{path} needs gcsfuse or rclone on the node", GCSFUSE_HINT
            )
            + "\nfi"
        )
        return _subshell(lines)
    lines.append(
        f"if command -v gcsfuse >/dev/null 2>&1; then\n  gcsfuse --implicit-dirs{only} {_q(bucket)} {target}\n"
        "else\n  "
        + _missing(f"MOUNT of gs://{path} needs gcsfuse on the node", GCSFUSE_HINT)
        + "\nfi"
    )
    return _subshell(lines)


def _subshell(lines: list[str]) -> str:
    """One ``( ... )`` block, so ``set -e`` and ``exit`` stay inside it."""
    return "(\n" + "\n".join(lines) + "\n)\n"


__all__ = ["BucketInfo", "GcsStore", "split_url"]
