"""Finding the registered store for a ``store:`` name, a bucket URL, or a cluster's cloud."""

from __future__ import annotations

import re
from typing import Any

from stix.errors import PluginError, StixError

# store name -> the cloud (and so ``pip install stix-<cloud>``) that usually provides it.
STORE_CLOUDS = {
    "s3": "aws",
    "gcs": "gcp",
    "azure": "azure",
    "r2": "cloudflare",
    "ibm": "ibm",
    "oci": "oci",
    "nebius": "nebius",
    "coreweave": "coreweave",
    "vastdata": "vastdata",
    "hf": "huggingface",
}
# URL prefix -> store name, for the error when no plugin serves a URL.
URL_STORES = {
    "s3://": "s3",
    "gs://": "gcs",
    "r2://": "r2",
    "cos://": "ibm",
    "oci://": "oci",
    "nebius://": "nebius",
    "cw://": "coreweave",
    "vastdata://": "vastdata",
    "hf://": "hf",
}
_AZURE = re.compile(r"^https://[^/]+\.blob\.core\.windows\.net/")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def is_bucket_url(source: str) -> bool:
    """True for ``s3://b/p``, ``gs://...``, Azure blob URLs and any other ``scheme://`` source."""
    return bool(_SCHEME.match(source))


def _instance(obj: Any) -> Any:
    return obj() if isinstance(obj, type) else obj


def _stores() -> dict[str, Any]:
    from stix.plugins import get_registry

    try:
        return get_registry().stores()
    except PluginError:
        return {}


def _missing(store: str, field: str) -> StixError:
    cloud = STORE_CLOUDS.get(store, store)
    return StixError(
        f"{field}: no installed plugin provides store {store!r}",
        hint=f"pip install stix-{cloud}",
    )


def store_named(name: str, field: str) -> Any:
    """The store instance registered as ``name`` (``s3``...).

    :param field: the task field to name in errors (``file_mounts./data.store``).
    :raises StixError: no plugin provides it; the hint says which to install.
    """
    found = _stores().get(name.lower())
    if found is None:
        raise _missing(name.lower(), field)
    return _instance(found)


def url_store_name(url: str) -> str | None:
    """The store name a URL's prefix stands for (``gs://x`` -> ``gcs``), if known."""
    if _AZURE.match(url):
        return "azure"
    for prefix, store in URL_STORES.items():
        if url.startswith(prefix):
            return store
    return None


def store_for_url(url: str, field: str) -> Any:
    """The store whose ``url_schemes`` match ``url``.

    URLs that no scheme prefix can tell apart (Azure Blob's
    ``https://<account>.blob.core.windows.net/...``) go to the store registered under
    the name :func:`url_store_name` gives them (``azure``).

    :raises StixError: no installed store serves the URL's scheme.
    """
    found = _stores()
    for obj in found.values():
        schemes = getattr(obj, "url_schemes", ()) or ()
        if any(url.startswith(s) for s in schemes):
            return _instance(obj)
    known = url_store_name(url)
    if known is not None:
        if known in found:
            return _instance(found[known])
        raise _missing(known, field)
    scheme = url.split("://", 1)[0]
    raise StixError(f"{field}: no installed store serves {scheme}:// URLs")


def store_for_cloud(cloud: str | None) -> Any | None:
    """The store of a cloud (``aws`` -> ``s3``) when its plugin registered one, else None."""
    if not cloud:
        return None
    stores = _stores()
    for obj in stores.values():
        if getattr(obj, "cloud", None) == cloud:
            return _instance(obj)
    for name, owner in STORE_CLOUDS.items():
        if owner == cloud and name in stores:
            return _instance(stores[name])
    return None


def split_url(url: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b")``; Azure: the container is the bucket."""
    match = _AZURE.match(url)
    rest = url[match.end() :] if match else url.split("://", 1)[1]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise StixError(f"bucket URL has no bucket name: {url!r}")
    return bucket, key


def bucket_url(store: Any, bucket: str) -> str:
    """The URL of ``bucket`` in ``store`` (the store's ``bucket_url`` when it has one)."""
    make = getattr(store, "bucket_url", None)
    if make is not None:
        return str(make(bucket))
    schemes = getattr(store, "url_schemes", ()) or ()
    if not schemes:
        raise StixError(f"store {store.name!r} declares no URL scheme")
    return f"{schemes[0]}{bucket}"


__all__ = [
    "STORE_CLOUDS",
    "bucket_url",
    "is_bucket_url",
    "split_url",
    "store_for_cloud",
    "store_for_url",
    "store_named",
    "url_store_name",
]
