"""What every object-store plugin shares: bucket listings, URL parts, storage modes.

Cheap to import (attrs only); cloud SDKs stay in the plugins.
"""

from __future__ import annotations

import attrs

from stix.errors import StixError

MODES = ("MOUNT", "COPY", "MOUNT_CACHED")


@attrs.frozen
class BucketInfo:
    """One bucket (or Azure container) as ``stix storage ls`` shows it.

    ``region`` is None where the store's data API does not say (Azure containers).
    """

    name: str
    created: str
    region: str | None
    managed: bool


def split_bucket_url(url: str, scheme: str, label: str) -> tuple[str, str]:
    """``<scheme>bucket/a/b`` -> ``("bucket", "a/b")``.

    :param scheme: the prefix, such as ``s3://``.
    :param label: the store's name in messages (``S3``, ``GCS``).
    :raises StixError: ``url`` does not start with ``scheme`` or names no bucket.
    """
    if not url.startswith(scheme):
        raise StixError(f"not a URL of {label}: {url!r}", hint=f"use {scheme}<bucket>[/<path>]")
    bucket, _, key = url[len(scheme) :].partition("/")
    if not bucket:
        raise StixError(f"{label} URL has no bucket name: {url!r}")
    return bucket, key


def check_mode(store: str, mode: str) -> str:
    """``mode`` in upper case, or a one-line error naming the modes there are."""
    mode = mode.upper()
    if mode not in MODES:
        raise StixError(
            f"{store}: unknown storage mode {mode!r}", hint=f"use one of {', '.join(MODES)}"
        )
    return mode


__all__ = ["MODES", "BucketInfo", "check_mode", "split_bucket_url"]
