"""Plugin discovery and the registry of clouds, catalogs, provisioners, stores, backends.

Nothing is loaded at import. The registry reads the ``stix`` entry-point
metadata once, then imports a plugin module only when something it may provide
is asked for. A plugin that fails to import, or whose hooks do not match the
contract, is recorded with its error and skipped.

Environment knobs: ``STIX_PLUGINS=a,b`` loads only these third-party plugins
(empty: built-ins only); ``STIX_DISABLE_PLUGINS=a,b`` blocks plugins by name;
``STIX_TRACE_PLUGINS=1`` prints every hook call to stderr.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

import attrs
import pluggy

from stix import hookspecs
from stix.errors import PluginError, StixError

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import click

    from stix.task import Task

CORE_DISTRIBUTION = "stix"
KINDS = ("clouds", "catalogs", "provisioners", "stores", "backends")


@attrs.define
class PluginRecord:
    """What ``stix plugins`` shows about one plugin."""

    name: str
    module: str
    distribution: str
    version: str
    builtin: bool
    loaded: bool = False
    error: str | None = None
    hooks: list[str] = attrs.field(factory=list)
    registers: dict[str, list[str]] = attrs.field(factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def _env_names(var: str) -> set[str] | None:
    value = os.environ.get(var)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


class Registry:
    """The plugin manager plus what plugins registered, loaded on demand.

    :param entry_points: entry points to consider; defaults to the installed
        ``stix`` group. Tests pass their own list.
    """

    def __init__(self, entry_points: Iterable[EntryPoint] | None = None) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        if os.environ.get("STIX_TRACE_PLUGINS"):
            self.pm.trace.root.setwriter(lambda msg: sys.stderr.write(f"[stix-plugins] {msg}"))
            self.pm.enable_tracing()
        self._given = list(entry_points) if entry_points is not None else None
        self._index: dict[str, tuple[EntryPoint, PluginRecord]] | None = None
        self._records: dict[str, PluginRecord] = {}
        self._objects: dict[str, dict[str, Any]] = {}
        self._warned: set[str] = set()

    # -- discovery ---------------------------------------------------------

    def _entry_points(self) -> list[EntryPoint]:
        if self._given is not None:
            return self._given
        return list(entry_points(group=hookspecs.ENTRY_POINT_GROUP))

    def index(self) -> dict[str, tuple[EntryPoint, PluginRecord]]:
        """Entry points by plugin name, read from metadata without importing anything."""
        if self._index is not None:
            return self._index
        allow = _env_names("STIX_PLUGINS")
        block = _env_names("STIX_DISABLE_PLUGINS") or set()
        index: dict[str, tuple[EntryPoint, PluginRecord]] = {}
        for ep in self._entry_points():
            dist = getattr(ep, "dist", None)
            dist_name = dist.name if dist is not None else "?"
            builtin = dist_name == CORE_DISTRIBUTION
            if ep.name in block or (allow is not None and not builtin and ep.name not in allow):
                continue
            record = PluginRecord(
                name=ep.name,
                module=ep.value,
                distribution=dist_name,
                version=dist.version if dist is not None else "?",
                builtin=builtin,
            )
            if ep.name in index:
                first = index[ep.name][1].distribution
                record.error = f"plugin name {ep.name!r} is also provided by {first}"
                self._records[f"{ep.name} ({dist_name})"] = record
                continue
            index[ep.name] = (ep, record)
            self._records[ep.name] = record
        self._index = index
        return index

    def load(self, name: str) -> bool:
        """Import and register the plugin called ``name``; False if absent or broken."""
        entry = self.index().get(name)
        if entry is None:
            return False
        ep, record = entry
        if record.loaded or record.error:
            return record.loaded
        try:
            module = ep.load()
            if not isinstance(module, ModuleType):
                raise PluginError(f"entry point must name a module, got {type(module).__name__}")
            self._register_module(module, name, record)
        except Exception as exc:  # a broken plugin must never take the CLI down
            self._fail(record, exc)
            return False
        return True

    def load_all(self) -> None:
        """Load every plugin that is not loaded yet (broken ones are skipped)."""
        for name in list(self.index()):
            self.load(name)

    def register(self, plugin: object, name: str, *, distribution: str = "(in process)") -> None:
        """Register an in-process plugin (a module or object with hook implementations).

        Embedding programs and tests use this to add plugins without packaging them.
        """
        record = PluginRecord(
            name=name,
            module=getattr(plugin, "__name__", type(plugin).__name__),
            distribution=distribution,
            version="",
            builtin=False,
        )
        self.index()
        self._records[name] = record
        self._register_module(plugin, name, record)

    def unregister(self, name: str) -> None:
        """Remove a plugin registered with :meth:`register` (or loaded) by name."""
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin, name=name)
        self._records.pop(name, None)
        self._objects.clear()

    def _register_module(self, plugin: object, name: str, record: PluginRecord) -> None:
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            if self.pm.get_plugin(name) is not None:
                self.pm.unregister(name=name)
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            raise PluginError("; ".join(lines)) from exc
        record.loaded = True
        record.hooks = sorted(
            hook.name
            for hook in self.pm.get_hookcallers(plugin) or []
            if not hook.name.startswith("_")
        )
        self._objects.clear()

    def _fail(self, record: PluginRecord, exc: BaseException) -> None:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, ImportError) and not isinstance(exc, ModuleNotFoundError):
            text = f"import failed: {text}"
        record.error = text
        record.loaded = False
        if record.name not in self._warned:
            self._warned.add(record.name)
            label = f"{record.distribution} {record.version}".strip()
            print(
                f"warning: plugin {record.name} ({label}) failed to load: {text}; see stix plugins",
                file=sys.stderr,
            )

    # -- registered objects ------------------------------------------------

    def _collect(self, kind: str) -> dict[str, Any]:
        cached = self._objects.get(kind)
        if cached is not None:
            return cached
        found: dict[str, Any] = {}
        owners: dict[str, str] = {}
        caller = getattr(self.pm.hook, f"register_{kind}")
        for impl in caller.get_hookimpls():
            record = self._records.get(impl.plugin_name)
            made: list[str] = []

            def register(
                obj: Any, _plugin: str = impl.plugin_name, _made: list[str] = made
            ) -> None:
                key = getattr(obj, "name", None)
                if not isinstance(key, str) or not key:
                    raise PluginError(f"{_plugin}: registered {kind[:-1]} {obj!r} has no 'name'")
                if key in found:
                    raise PluginError(
                        f"{kind[:-1]} {key!r} is registered by both {owners[key]} and {_plugin}"
                    )
                found[key] = obj
                owners[key] = _plugin
                _made.append(key)

            try:
                impl.function(register=register)
            except Exception as exc:
                for key in made:  # all or nothing: drop what this hook call registered
                    found.pop(key, None)
                    owners.pop(key, None)
                if record is not None:
                    self._fail(record, exc)
                continue
            if record is not None:
                record.registers[kind] = sorted(made)
        self._objects[kind] = found
        return found

    def _get(self, kind: str, name: str) -> Any | None:
        # Built-ins and the plugin named like the object come first (cheap);
        # only a miss loads every remaining plugin.
        for candidate in (name, *(n for n, (_, r) in self.index().items() if r.builtin)):
            if candidate in self.index() and not self.index()[candidate][1].loaded:
                self.load(candidate)
        obj = self._collect(kind).get(name)
        if obj is None:
            self.load_all()
            obj = self._collect(kind).get(name)
        return obj

    def clouds(self) -> dict[str, Any]:
        """Every registered cloud, ``{name: Cloud instance}`` (loads all plugins)."""
        self.load_all()
        return {name: cls() for name, cls in sorted(self._collect("clouds").items())}

    def cloud(self, name: str) -> Any:
        """The cloud called ``name`` (an instance), loading as little as possible.

        :raises stix.errors.StixError: no installed plugin provides it.
        """
        from stix.task.values import cloud_alias

        cls = self._get("clouds", cloud_alias(name))
        if cls is None:
            raise StixError(
                f"unknown cloud {name!r}; installed: {', '.join(sorted(self._collect('clouds')))}",
                hint=f"pip install stix-{name.lower()}",
            )
        return cls()

    def catalog_sources(self) -> dict[str, Any]:
        """``{cloud name: CatalogSource instance}`` for every plugin that ships a catalog."""
        self.load_all()
        return {
            name: cls() if isinstance(cls, type) else cls
            for name, cls in self._collect("catalogs").items()
        }

    def provisioner(self, name: str) -> Any:
        """A provisioner instance for cloud ``name``.

        :raises stix.errors.PluginError: the cloud has no provisioner.
        """
        cls = self._get("provisioners", name)
        if cls is None:
            raise PluginError(f"no provisioner is registered for cloud {name!r}")
        return cls() if isinstance(cls, type) else cls

    def stores(self) -> dict[str, Any]:
        """``{store name: Store class}``."""
        self.load_all()
        return dict(self._collect("stores"))

    def backend(self, name: str = "default") -> Any:
        """The backend called ``name`` (an instance)."""
        cls = self._get("backends", name)
        if cls is None:
            raise PluginError(f"no backend named {name!r} is registered")
        return cls() if isinstance(cls, type) else cls

    def add_commands(self, cli: click.Group) -> None:
        """Let every plugin add its CLI commands to ``cli``."""
        self.load_all()
        for impl in self.pm.hook.register_commands.get_hookimpls():
            record = self._records.get(impl.plugin_name)
            try:
                impl.function(cli=cli)
            except Exception as exc:
                if record is not None:
                    self._fail(record, exc)

    def validate_task(self, task: Task, context: dict[str, Any]) -> Task:
        """Run every ``validate_task`` hook in order; return the final task.

        :raises stix.errors.StixError: a policy rejected the task (its reason).
        """
        self.load_all()
        # registration order: built-ins first, then plugins as they were loaded
        for impl in self.pm.hook.validate_task.get_hookimpls():
            try:
                result = cast("Task | None", impl.function(task=task, context=dict(context)))
            except StixError as exc:
                raise StixError(
                    f"rejected by policy {impl.plugin_name}: {exc.message}", hint=exc.hint
                ) from exc
            if result is not None:
                task = result
        return task

    def teardown_refusal(self, cluster_name: str, action: str) -> str | None:
        """The first plugin's reason not to ``action`` (down/stop) the cluster, or None.

        A guard that fails (a bug, an unreachable controller) does not block the user:
        it is logged and skipped.
        """
        self.load_all()
        for impl in self.pm.hook.teardown_guard.get_hookimpls():
            try:
                reason = impl.function(cluster_name=cluster_name, action=action)
            except Exception as exc:  # a broken guard must not trap a cluster
                log.warning("teardown guard of %s failed: %s", impl.plugin_name, exc)
                continue
            if reason:
                return str(reason)
        return None

    def records(self) -> list[PluginRecord]:
        """One record per discovered plugin, loading each to learn what it registers."""
        self.load_all()
        for kind in KINDS:
            self._collect(kind)
        return sorted(self._records.values(), key=lambda r: (not r.builtin, r.name))


_REGISTRY: Registry | None = None
# The plugin knobs the registry was built under, or None for one handed to reset_registry.
_BUILT_UNDER: tuple[str | None, str | None] | None = None


def _knobs() -> tuple[str | None, str | None]:
    return os.environ.get("STIX_PLUGINS"), os.environ.get("STIX_DISABLE_PLUGINS")


def get_registry() -> Registry:
    """The process-wide registry (created on first use).

    Built again when ``STIX_PLUGINS`` or ``STIX_DISABLE_PLUGINS`` changed since it was
    built, so a program (or a test) that changes them never keeps a stale plugin set.
    """
    global _REGISTRY, _BUILT_UNDER
    if _REGISTRY is None or (_BUILT_UNDER is not None and _knobs() != _BUILT_UNDER):
        _REGISTRY = Registry()
        _BUILT_UNDER = _knobs()
    return _REGISTRY


def reset_registry(registry: Registry | None = None) -> None:
    """Replace the process-wide registry (tests; embedding programs)."""
    global _REGISTRY, _BUILT_UNDER
    _REGISTRY = registry
    _BUILT_UNDER = None


def hook_names() -> list[str]:
    """Names of every hook in the contract."""
    return sorted(
        name
        for name in dir(hookspecs)
        if callable(getattr(hookspecs, name)) and hasattr(getattr(hookspecs, name), "stix_spec")
    )


__all__ = [
    "PluginRecord",
    "Registry",
    "get_registry",
    "hook_names",
    "reset_registry",
]
