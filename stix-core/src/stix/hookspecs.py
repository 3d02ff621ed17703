"""The plugin contract: every hook a STIX plugin may implement.

A plugin is a module named by an entry point in the ``stix`` group. It
implements any of the hooks below with ``@stix.hookimpl``. Registration hooks
receive a ``register`` callback and call it once per object they provide; the
objects' required methods are described in :mod:`stix.interfaces`.

This module imports nothing heavy so that reading the contract is free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from collections.abc import Callable

    import click

    from stix.task import Task

PROJECT = "stix"
ENTRY_POINT_GROUP = "stix"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------
# Registration: what a plugin provides


@hookspec
def register_clouds(register: Callable[[Any], None]) -> None:
    """Register cloud classes.

    Called once per process, the first time any cloud is looked up (for
    example by ``stix check``, the optimizer or ``stix launch``).

    :param register: call ``register(CloudClass)`` once per cloud. The class
        implements :class:`stix.interfaces.Cloud`; its ``name`` is what users
        write in YAML (``infra: <name>/...``). A name already registered by
        another plugin is an error reported against the later plugin.
    """


@hookspec
def register_catalogs(register: Callable[[Any], None]) -> None:
    """Register catalog sources (price and offer tables) for clouds.

    Called when a catalog is refreshed (``stix catalog update``) or when the
    optimizer looks for a cloud's seed catalog.

    :param register: call ``register(source)`` with an object implementing
        :class:`stix.interfaces.CatalogSource`; ``source.name`` is the cloud name.
    """


@hookspec
def register_provisioners(register: Callable[[Any], None]) -> None:
    """Register provisioners: the code that creates and removes a cloud's nodes.

    Called when a cluster is launched, stopped, started, refreshed or torn down.

    :param register: call ``register(ProvisionerClass)``; the class implements
        :class:`stix.interfaces.Provisioner` and its ``name`` equals the cloud's.
    """


@hookspec
def register_stores(register: Callable[[Any], None]) -> None:
    """Register object stores used by ``file_mounts`` and storage objects.

    Called when a task names a bucket URL (``s3://``...) or ``store:`` type.

    :param register: call ``register(StoreClass)``; the class implements
        :class:`stix.interfaces.Store`; ``name`` is the ``store:`` value
        (``s3``, ``gcs``, ...) and ``url_schemes`` the URL prefixes it serves.
    """


@hookspec
def register_backends(register: Callable[[Any], None]) -> None:
    """Register execution backends (how a task becomes jobs on a cluster).

    Called by ``stix launch``/``stix exec``. The core registers ``default``.

    :param register: call ``register(BackendClass)``; the class implements
        :class:`stix.interfaces.Backend`.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add top-level CLI commands or groups (for example ``stix jobs``).

    Called only when the CLI needs a name that is not a core command, or when
    it lists every command for ``stix --help``. Import heavy modules inside the
    command bodies, not at module level.

    :param cli: the root ``click.Group``; call ``cli.add_command(cmd)``.
    """


# --------------------------------------------------------------------------
# Policy: inspect or change a task before it runs


@hookspec
def validate_task(task: Task, context: dict[str, Any]) -> Task | None:
    """Check, reject or rewrite a task before it is optimised and launched.

    Called by ``stix validate``, ``stix launch`` (also with ``--dryrun``) and
    ``stix exec``, once per task, for every plugin in registration order. Each
    plugin sees the task as rewritten by the plugins before it.

    :param task: the task as loaded (overrides from the command line applied).
    :param context: ``{"request": "launch"|"exec"|"validate"|..., "cluster_name":
        str|None, "dryrun": bool}``; read-only.
    :returns: a replacement task, or ``None`` to keep it unchanged.
    :raises stix.errors.StixError: to reject the task; the message is shown to
        the user as the reason.
    """


# --------------------------------------------------------------------------
# Lifecycle: protect clusters a plugin depends on


@hookspec
def teardown_guard(cluster_name: str, action: str) -> str | None:
    """Refuse to stop or tear down a cluster that a plugin still depends on.

    Called by ``stix down`` / ``sdk.down`` (not with ``--purge``) and ``stix stop`` /
    ``sdk.stop`` before anything is touched; for example a feature plugin whose
    controller cluster still runs services or jobs. Return ``None`` at once for
    clusters the plugin does not own: this runs on every down and stop.

    :param cluster_name: the cluster the user named.
    :param action: ``"down"`` or ``"stop"``.
    :returns: a one-line reason to refuse that says what to run instead, or ``None``.
    """


__all__ = [
    "ENTRY_POINT_GROUP",
    "PROJECT",
    "hookimpl",
    "hookspec",
    "register_backends",
    "register_catalogs",
    "register_clouds",
    "register_commands",
    "register_provisioners",
    "register_stores",
    "teardown_guard",
    "validate_task",
]
