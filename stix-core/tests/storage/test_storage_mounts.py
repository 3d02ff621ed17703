"""Bucket file_mounts and storage objects through the core, with an in-process fake store.

The launches run on the real local cloud (sandbox nodes, agent, job logs).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, ClassVar

import pytest
import stix
from fake_store import FakeDirStore, FakePlugin
from stix.errors import StixError
from stix.hookspecs import hookimpl
from stix.storage import mounts
from stix.storage.state import StorageTable
from stix.task import load_task


@pytest.fixture
def core_registry() -> Any:
    """Only the core's own plugins (no installed cloud distributions), as the process registry."""
    from importlib.metadata import entry_points

    from stix.plugins import Registry, reset_registry

    core = [
        ep for ep in entry_points(group="stix") if ep.dist is not None and ep.dist.name == "stix"
    ]
    registry = Registry(core)
    reset_registry(registry)
    yield registry
    reset_registry(None)


@pytest.fixture
def fake_store(core_registry: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "buckets"
    root.mkdir()
    monkeypatch.setattr(FakeDirStore, "root", root)
    monkeypatch.setattr(FakeDirStore, "calls", [])
    core_registry.register(FakePlugin(), "fakefs-test")
    return root


@pytest.fixture
def home(stix_home: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("STIX_QUIET", "1")
    yield stix_home
    for record in stix.status():
        stix.down(record.name, purge=True)


def _log(cluster: str, job_id: int) -> str:
    chunks: list[bytes] = []
    stix.tail_logs(cluster, job_id, write=chunks.append)
    return b"".join(chunks).decode()


def _error(task: dict[str, Any], cloud: str | None = None) -> StixError:
    with pytest.raises(StixError) as caught:
        mounts.resolve(load_task(task), cloud) if cloud else mounts.check(load_task(task))
    return caught.value


def test_missing_store_plugin_names_the_field_and_the_package(core_registry: Any) -> None:
    err = _error({"run": "true", "file_mounts": {"/data": "s3://bucket/data"}})
    assert err.message == "file_mounts./data: no installed plugin provides store 's3'"
    assert err.hint == "pip install stix-aws"
    err = _error({"run": "true", "file_mounts": {"/ckpt": {"name": "b", "store": "gcs"}}})
    assert err.message == "file_mounts./ckpt.store: no installed plugin provides store 'gcs'"
    assert err.hint == "pip install stix-gcp"
    err = _error({"run": "true", "file_mounts": {"/m": {"source": "r2://models/x"}}})
    assert err.message == "file_mounts./m.source: no installed plugin provides store 'r2'"
    assert err.hint == "pip install stix-cloudflare"
    err = _error({"run": "true", "file_mounts": {"/m": "weird://x/y"}})
    assert err.message == "file_mounts./m: no installed store serves weird:// URLs"


def test_storage_object_field_errors(fake_store: Path, tmp_path: Path) -> None:
    err = _error({"run": "true", "file_mounts": {"/v": {"name": "v", "store": "volume"}}})
    assert err.message.startswith("file_mounts./v.store: volumes are not supported")
    err = _error({"run": "true", "file_mounts": {"/d": {"source": str(tmp_path)}}})
    assert (
        err.message
        == "file_mounts./d.name: a storage object with a local source needs a bucket name"
    )
    missing = str(tmp_path / "nope")
    err = _error({"run": "true", "file_mounts": {"/d": {"name": "b", "source": missing}}})
    assert err.message == f"file_mounts./d.source: {missing} does not exist"
    err = _error(
        {"run": "true", "file_mounts": {"/d": {"name": "other", "source": "fakefs://b/x"}}}
    )
    assert (
        err.message == "file_mounts./d.name: 'other' differs from the bucket of source fakefs://b/x"
    )


def test_store_comes_from_the_cluster_cloud_or_a_clear_error(
    core_registry: Any, fake_store: Path
) -> None:
    task = {"run": "true", "file_mounts": {"/d": {"name": "b1", "mode": "COPY"}}}
    mounts.check(load_task(task))  # no cloud known yet: decided at mount time
    [found] = mounts.resolve(load_task(task), "local")
    assert found.store.name == "fakefs" and found.url == "fakefs://b1" and found.mode == "COPY"
    err = _error(task, cloud="ssh")
    assert err.message == (
        "file_mounts./d.store: not given, and cloud 'ssh' has no store to hold bucket 'b1'"
    )


def test_launch_copies_buckets_and_records_storage(
    home: Path, fake_store: Path, tmp_path: Path
) -> None:
    (fake_store / "pre" / "data").mkdir(parents=True)
    (fake_store / "pre" / "data" / "in.txt").write_text("from-an-existing-bucket\n")
    local = tmp_path / "local-src"
    (local / "sub").mkdir(parents=True)
    (local / "sub" / "up.txt").write_text("uploaded-by-stix\n")
    task = load_task(
        {
            # the local cloud keeps absolute destinations inside the node's sandbox home
            "run": "cat ~/in/in.txt ~/made/sub/up.txt ~/abs/sub/up.txt",
            "file_mounts": {
                "~/in": "fakefs://pre/data",
                "~/made": {"name": "made", "source": str(local), "mode": "COPY"},
                "/abs": {"name": "kept", "source": str(local), "mode": "COPY"},
            },
        }
    )
    result = stix.launch(task, cluster_name="st1")
    assert result.status == "SUCCEEDED"
    assert _log("st1", 1).split() == [
        "from-an-existing-bucket",
        "uploaded-by-stix",
        "uploaded-by-stix",
    ]
    assert (fake_store / "made" / "sub" / "up.txt").read_text() == "uploaded-by-stix\n"
    records = {r.name: r for r in StorageTable().all()}
    assert set(records) == {"made", "kept"}  # plain URLs are not storage objects
    made = records["made"]
    assert (made.store, made.status, made.clusters, made.managed) == (
        "fakefs",
        "READY",
        ("st1",),
        True,
    )
    assert made.source == str(local)

    # persistent defaults to true: down keeps both buckets, only the cluster is forgotten
    stix.down("st1")
    assert {r.name: r.clusters for r in StorageTable().all()} == {"made": (), "kept": ()}
    assert (fake_store / "made").is_dir() and (fake_store / "pre").is_dir()


def test_persistent_false_bucket_goes_with_its_cluster_only_if_stix_made_it(
    home: Path, fake_store: Path, tmp_path: Path
) -> None:
    (fake_store / "users-own").mkdir()
    (fake_store / "users-own" / "f.txt").write_text("mine\n")
    src = tmp_path / "f.txt"
    src.write_text("temp\n")
    task = load_task(
        {
            "run": "cat ~/tmp/f.txt ~/own/f.txt",
            "file_mounts": {
                "~/tmp": {
                    "name": "scratch",
                    "source": str(src),
                    "mode": "COPY",
                    "persistent": False,
                },
                "~/own": {"name": "users-own", "mode": "COPY", "persistent": False},
            },
        }
    )
    assert stix.launch(task, cluster_name="st2").status == "SUCCEEDED"
    assert _log("st2", 1).split() == ["temp", "mine"]
    assert {r.name: r.managed for r in StorageTable().all()} == {
        "scratch": True,
        "users-own": False,
    }
    stix.down("st2")
    assert not (fake_store / "scratch").exists()
    assert (fake_store / "users-own" / "f.txt").exists()  # not created by STIX: kept
    assert StorageTable().all() == []
    assert "delete scratch" in FakeDirStore.calls and "delete users-own" not in FakeDirStore.calls


def test_mount_failure_on_the_node_is_one_clear_line(home: Path, fake_store: Path) -> None:
    (fake_store / "b").mkdir()
    task = load_task({"run": "true", "file_mounts": {"~/m": {"name": "b"}}})  # MOUNT default
    with pytest.raises(StixError) as caught:
        stix.launch(task, cluster_name="st3")
    assert re.fullmatch(
        r"file_mounts\.~/m: MOUNT failed on node st3-\w+-0: "
        r"stix: MOUNT of fakefs://b needs fakefuse on the node",
        caught.value.message,
    ), caught.value.message


def test_storage_cli_ls_and_delete(home: Path, fake_store: Path, cli: Any, tmp_path: Path) -> None:
    src = tmp_path / "d"
    src.mkdir()
    (src / "x").write_text("x\n")
    task = load_task(
        {"file_mounts": {"~/a": {"name": "keep-a", "source": str(src), "mode": "COPY"}}}
    )
    stix.launch(task, cluster_name="st4")
    rows = json.loads(cli("storage", "ls", "--json").stdout)
    assert [(r["name"], r["store"], r["status"], r["clusters"]) for r in rows] == [
        ("keep-a", "fakefs", "READY", ["st4"])
    ]
    table = cli("storage", "ls").stdout.splitlines()
    assert table[0].split() == ["NAME", "UPDATED", "STORE", "CLUSTERS", "PERSISTENT", "STATUS"]
    assert table[1].split()[0] == "keep-a" and table[1].split()[-1] == "READY"

    refused = cli("storage", "delete", "keep-a", "-y")
    assert refused.exit_code == 1 and "used by cluster(s) st4" in refused.stderr
    stix.down("st4")
    done = cli("storage", "delete", "-a", "-y")
    assert done.exit_code == 0 and "Deleted storage keep-a (fakefs)." in done.stderr
    assert not (fake_store / "keep-a").exists()
    assert cli("storage", "ls", "--json").stdout.strip() == "[]"
    unknown = cli("storage", "delete", "nope", "-y")
    assert unknown.exit_code == 1 and "storage 'nope' does not exist" in unknown.stderr


def test_messages_never_show_url_signatures() -> None:
    text = "curl failed https://b.s3.amazonaws.com/k?X-Amz-Signature=abc&X-Amz-Credential=AKIA1"
    assert mounts.clean(text) == "curl failed https://b.s3.amazonaws.com/k?<redacted>"


def test_azure_blob_urls_go_to_the_store_named_azure(core_registry: Any) -> None:
    """``https://<account>.blob.core.windows.net/...`` has no scheme of its own: the name decides."""
    from stix.storage import stores

    class AzureLike(FakeDirStore):
        name: ClassVar[str] = "azure"
        url_schemes: ClassVar[tuple[str, ...]] = ("az://",)

    url = "https://acct.blob.core.windows.net/box/data"
    err = _error({"run": "true", "file_mounts": {"/d": url}})
    assert err.message == "file_mounts./d: no installed plugin provides store 'azure'"

    class Plugin:
        @hookimpl
        def register_stores(self, register: Any) -> None:
            register(AzureLike)

    core_registry.register(Plugin(), "azure-like-test")
    assert isinstance(stores.store_for_url(url, "file_mounts./d"), AzureLike)
    assert isinstance(stores.store_for_url("az://box", "file_mounts./d"), AzureLike)
