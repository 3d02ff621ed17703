"""Which cloud names a task, ``--infra`` or ``allowed_clouds`` may use.

SkyPilot's clouds are always valid names (a missing plugin is reported at planning,
with the ``pip install stix-<cloud>`` hint); any other name must be a cloud that an
installed plugin registers or whose catalog was imported. Plugins are consulted only
for names outside SkyPilot's list, so loading a task stays cheap.
"""

from __future__ import annotations

import difflib

from stix.task.problems import Invalid

# SkyPilot 0.14's ALL_CLOUDS, plus this project's built-in ``local``.
KNOWN_CLOUDS = frozenset(
    {
        "aws", "azure", "gcp", "ibm", "lambda", "scp", "oci", "kubernetes", "runpod", "vast",
        "vsphere", "cudo", "fluidstack", "paperspace", "primeintellect", "do", "nebius", "ssh",
        "slurm", "hyperbolic", "seeweb", "shadeform", "yotta", "mithril", "verda", "local",
    }
)  # fmt: skip
# Clouds that only store data: valid in ``allowed_clouds``, not as a task's cloud.
STORAGE_CLOUDS = frozenset({"cloudflare", "coreweave", "vastdata", "huggingface"})


def _installed_names() -> set[str]:
    from stix.catalog.files import installed
    from stix.plugins import get_registry

    names = set(installed())
    try:
        names |= set(get_registry().clouds())
    except Exception:  # a broken plugin set must not hide the real problem (the name)
        pass
    return names


def check_cloud(name: str, *, storage: bool = False) -> None:
    """Raise ``Invalid`` naming close matches when ``name`` (lower case) is no cloud."""
    if name in KNOWN_CLOUDS or (storage and name in STORAGE_CLOUDS):
        return
    installed = _installed_names()
    if name in installed:
        return
    known = KNOWN_CLOUDS | installed | (STORAGE_CLOUDS if storage else frozenset())
    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.6)
    if close:
        message = f"unknown cloud {name!r}; did you mean {', '.join(close)}?"
    else:
        message = f"unknown cloud {name!r}"
    shown = sorted(installed | {"local", "ssh"})
    raise Invalid(
        message,
        hint=f"installed: {', '.join(shown)}; other clouds come as plugins (pip install stix-<cloud>)",
    )


__all__ = ["KNOWN_CLOUDS", "STORAGE_CLOUDS", "check_cloud"]
