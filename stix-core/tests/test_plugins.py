"""The plugin registry: discovery, lazy loading, isolation of broken plugins, hooks."""

from __future__ import annotations

import sys
import types
from importlib.metadata import EntryPoint
from typing import Any, ClassVar

import pytest
from stix.errors import PluginError, StixError
from stix.hookspecs import hookimpl
from stix.interfaces import CheckResult, Cloud
from stix.plugins import Registry, get_registry, hook_names, reset_registry


class FakeCloud(Cloud):
    name: ClassVar[str] = "fakecloud"
    features: ClassVar[frozenset[str]] = frozenset({"spot"})

    def check(self) -> CheckResult:
        return CheckResult(False, "no credentials", hint="run fakecloud login")


def make_module(name: str, **attrs: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    return module


@pytest.fixture
def plugin_modules(monkeypatch: pytest.MonkeyPatch) -> dict[str, types.ModuleType]:
    """Importable plugin modules, put in sys.modules for entry points to load."""

    @hookimpl
    def register_clouds(register: Any) -> None:
        register(FakeCloud)

    @hookimpl
    def register_clouds_bad(register: Any, surprise: Any) -> None:  # pragma: no cover
        register(FakeCloud)

    register_clouds_bad.__name__ = "register_clouds"
    modules = {
        "fake_good": make_module("fake_good", register_clouds=register_clouds),
        "fake_badhook": make_module("fake_badhook", register_clouds=register_clouds_bad),
        "fake_typo": make_module("fake_typo", register_cloudz=hookimpl(lambda register: None)),
    }
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    return modules


def eps(**targets: str) -> list[EntryPoint]:
    return [EntryPoint(name=n, value=v, group="stix") for n, v in targets.items()]


def test_installed_builtins_are_discovered() -> None:
    registry = Registry()
    records = {r.name: r for r in registry.records()}
    assert records["local"].builtin
    assert records["local"].distribution == "stix"
    assert records["local"].registers["clouds"] == ["local"]
    assert "local" in registry.clouds()


def test_cloud_lookup_loads_only_what_it_needs(plugin_modules: dict) -> None:
    registry = Registry(eps(fakecloud="fake_good", other="fake_missing_module"))
    assert registry.cloud("FakeCloud").name == "fakecloud"
    index = registry.index()
    assert index["fakecloud"][1].loaded
    assert not index["other"][1].loaded and index["other"][1].error is None


def test_missing_module_is_reported_and_skipped(plugin_modules: dict, capsys) -> None:
    registry = Registry(eps(fakecloud="fake_good", broken="no_such_module_xyz"))
    assert set(registry.clouds()) == {"fakecloud"}
    records = {r.name: r for r in registry.records()}
    assert "no_such_module_xyz" in records["broken"].error
    err = capsys.readouterr().err
    assert "plugin broken" in err and "failed to load" in err
    assert err.count("plugin broken") == 1  # warned once


def test_bad_hook_signature_is_reported(plugin_modules: dict) -> None:
    registry = Registry(eps(bad="fake_badhook", fakecloud="fake_good"))
    assert set(registry.clouds()) == {"fakecloud"}
    record = {r.name: r for r in registry.records()}["bad"]
    assert record.error and "surprise" in record.error


def test_misspelt_hook_is_reported(plugin_modules: dict) -> None:
    registry = Registry(eps(typo="fake_typo"))
    registry.load_all()
    record = {r.name: r for r in registry.records()}["typo"]
    assert record.error and "register_cloudz" in record.error


def test_unknown_cloud_names_installed_ones() -> None:
    with pytest.raises(StixError) as info:
        Registry().cloud("nosuchcloud")
    assert "nosuchcloud" in info.value.message and "local" in info.value.message
    assert info.value.hint == "pip install stix-nosuchcloud"


def test_allow_list_keeps_builtins(plugin_modules: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STIX_PLUGINS", "")
    registry = Registry(eps(fakecloud="fake_good"))
    assert "fakecloud" not in registry.index()
    monkeypatch.setenv("STIX_PLUGINS", "fakecloud")
    assert "fakecloud" in Registry(eps(fakecloud="fake_good")).index()


def test_disable_list(plugin_modules: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STIX_DISABLE_PLUGINS", "fakecloud")
    assert "fakecloud" not in Registry(eps(fakecloud="fake_good")).index()


def test_hook_register_clouds_duplicate_name_is_an_error(register_plugin, plugin_registry) -> None:
    @hookimpl
    def register_clouds(register: Any) -> None:
        register(FakeCloud)

    register_plugin(make_module("one", register_clouds=register_clouds), "one")
    register_plugin(make_module("two", register_clouds=register_clouds), "two")
    clouds = plugin_registry.clouds()
    assert "fakecloud" in clouds
    errors = [r.error for r in plugin_registry.records() if r.name in ("one", "two") and r.error]
    assert errors and "registered by both one and two" in errors[0]


def test_hook_register_catalogs(register_plugin, plugin_registry) -> None:
    from stix.interfaces import CatalogSource

    class Source(CatalogSource):
        name = "fakecloud"

        def fetch(self, dest: Any) -> None:
            (dest / "vms.csv").write_text("InstanceType\n")

    register_plugin(
        make_module("cat", register_catalogs=hookimpl(lambda register: register(Source))), "cat"
    )
    sources = plugin_registry.catalog_sources()
    assert isinstance(sources["fakecloud"], Source)


def test_hook_register_provisioners(register_plugin, plugin_registry) -> None:
    class Prov:
        name = "fakecloud"

    register_plugin(
        make_module("prov", register_provisioners=hookimpl(lambda register: register(Prov))), "prov"
    )
    assert isinstance(plugin_registry.provisioner("fakecloud"), Prov)
    with pytest.raises(PluginError, match="no provisioner"):
        plugin_registry.provisioner("nothere")


def test_hook_register_stores(register_plugin, plugin_registry) -> None:
    class Store:
        name = "fakestore"
        url_schemes = ("fake://",)

    register_plugin(
        make_module("st", register_stores=hookimpl(lambda register: register(Store))), "st"
    )
    assert plugin_registry.stores()["fakestore"] is Store


def test_hook_register_backends(register_plugin, plugin_registry) -> None:
    class Backend:
        name = "fakebackend"

    register_plugin(
        make_module("be", register_backends=hookimpl(lambda register: register(Backend))), "be"
    )
    assert isinstance(plugin_registry.backend("fakebackend"), Backend)


def test_hook_register_commands(register_plugin, plugin_registry, cli) -> None:
    import click

    @click.command()
    def hello() -> None:
        """Say hello from a plugin."""
        click.echo("hello from plugin")

    register_plugin(
        make_module("cmd", register_commands=hookimpl(lambda cli: cli.add_command(hello))), "cmd"
    )
    from stix.cli import cli as root

    root.__dict__.pop("_plugins_added", None)
    root.commands.pop("hello", None)
    try:
        result = cli("hello")
        assert result.exit_code == 0 and result.stdout.strip() == "hello from plugin"
        assert "hello" in cli("--help").stdout
    finally:
        root.commands.pop("hello", None)
        root.__dict__.pop("_plugins_added", None)


def test_hook_validate_task_rewrites_then_rejects(register_plugin, plugin_registry) -> None:
    seen: list[str] = []

    @hookimpl
    def validate_task(task: Any, context: dict) -> Any:
        seen.append(context["request"])
        return [*task, "rewritten"]

    @hookimpl
    def reject(task: Any, context: dict) -> Any:
        if "forbidden" in task:
            raise StixError("GPU tasks need approval", hint="ask your admin")
        return None

    reject.__name__ = "validate_task"
    register_plugin(make_module("rewrite", validate_task=validate_task), "rewrite")
    register_plugin(make_module("policy", validate_task=reject), "policy")
    assert plugin_registry.validate_task(["x"], {"request": "launch"}) == ["x", "rewritten"]
    assert seen == ["launch"]
    with pytest.raises(StixError) as info:
        plugin_registry.validate_task(["forbidden"], {"request": "launch"})
    assert info.value.message == "rejected by policy policy: GPU tasks need approval"
    assert info.value.hint == "ask your admin"


def test_process_registry_can_be_replaced() -> None:
    mine = Registry([])
    reset_registry(mine)
    try:
        assert get_registry() is mine
    finally:
        reset_registry(None)
    assert get_registry() is not mine


def test_hook_names_cover_the_contract() -> None:
    assert hook_names() == [
        "register_backends",
        "register_catalogs",
        "register_clouds",
        "register_commands",
        "register_provisioners",
        "register_stores",
        "teardown_guard",
        "validate_task",
    ]


def test_hook_teardown_guard_refuses_down_and_stop_until_purge(
    register_plugin, cli, tmp_path
) -> None:
    class Guard:
        @hookimpl
        def teardown_guard(self, cluster_name: str, action: str) -> str | None:
            return "it holds the fleet; run: fleet down" if cluster_name == "keeper" else None

    class Broken:
        @hookimpl
        def teardown_guard(self, cluster_name: str, action: str) -> str | None:
            raise RuntimeError("guard bug")

    register_plugin(Guard(), name="guard")
    register_plugin(Broken(), name="broken-guard")
    task = tmp_path / "t.yaml"
    task.write_text("run: echo hi\n")
    for name in ("keeper", "other"):
        result = cli("launch", "-y", "-c", name, str(task))
        assert result.exit_code == 0, result.stderr
    for verb in ("down", "stop"):
        refused = cli(verb, "-y", "keeper")
        assert refused.exit_code == 1
        assert "Error: cluster 'keeper': it holds the fleet; run: fleet down" in refused.stderr
    assert "--purge" in cli("down", "-y", "keeper").stderr  # the way out is named
    every = cli("down", "-a", "-y")
    assert every.exit_code == 0, every.stderr
    assert "Skipping cluster keeper: it holds the fleet" in every.stderr
    assert "Cluster other terminated." in every.stderr  # a failing guard blocks nothing
    listing = cli("status")
    assert "keeper" in listing.stdout and "other" not in listing.stdout
    assert cli("down", "-y", "--purge", "keeper").exit_code == 0
    assert "keeper" not in cli("status").stdout


def test_hook_validate_task_runs_in_stix_validate(register_plugin, cli, tmp_path) -> None:
    import attrs

    @hookimpl
    def validate_task(task: Any, context: dict) -> Any:
        assert context == {"request": "validate", "cluster_name": None, "dryrun": True}
        if task.name == "forbidden":
            raise StixError("tasks named forbidden are not allowed here")
        return attrs.evolve(task, envs={**task.envs, "INJECTED_BY_POLICY": "1"})

    register_plugin(make_module("admin", validate_task=validate_task), "admin")
    good = tmp_path / "good.yaml"
    good.write_text("name: fine\nrun: echo hi\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: forbidden\nrun: echo hi\n")
    result = cli("validate", "--json", str(good))
    assert result.exit_code == 0
    assert '"INJECTED_BY_POLICY": "1"' in result.stdout
    result = cli("validate", str(bad))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {bad}: rejected by policy admin: tasks named forbidden are not allowed here"
    )


def test_hook_register_clouds_is_all_or_nothing_per_plugin(
    register_plugin, plugin_registry
) -> None:
    class Half(Cloud):
        name: ClassVar[str] = "halfcloud"

        def check(self) -> CheckResult:
            return CheckResult(True)

    @hookimpl
    def register_clouds(register: Any) -> None:
        register(Half)
        raise RuntimeError("second cloud failed to build")

    register_plugin(make_module("halfway", register_clouds=register_clouds), "halfway")
    assert "halfcloud" not in plugin_registry.clouds()
    record = {r.name: r for r in plugin_registry.records()}["halfway"]
    assert record.error == "second cloud failed to build"


def test_registry_follows_a_change_of_the_plugin_knobs(monkeypatch: pytest.MonkeyPatch) -> None:
    from stix.plugins import get_registry, reset_registry

    reset_registry()
    monkeypatch.setenv("STIX_PLUGINS", "")  # built-ins only
    first = get_registry()
    assert get_registry() is first  # unchanged knobs: the same registry
    monkeypatch.setenv("STIX_PLUGINS", "aws")
    assert get_registry() is not first  # a stale plugin set is never kept
    handed = first
    reset_registry(handed)  # one handed over explicitly is kept whatever the knobs say
    monkeypatch.delenv("STIX_PLUGINS")
    assert get_registry() is handed
    reset_registry()
