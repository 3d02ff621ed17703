"""The storage table and bucket lifecycle without a cluster: prepare, release, failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fake_store import FakeDirStore, FakePlugin
from stix.storage import mounts
from stix.storage.lifecycle import release_cluster
from stix.storage.state import READY, UPLOAD_FAILED, StorageTable
from stix.task import load_task


@pytest.fixture
def fake_store(
    stix_home: Path, plugin_registry: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    root = tmp_path / "buckets"
    root.mkdir()
    monkeypatch.setattr(FakeDirStore, "root", root)
    monkeypatch.setattr(FakeDirStore, "calls", [])
    plugin_registry.register(FakePlugin(), "fakefs-test")
    return root


def _prepare(task: dict[str, Any], cluster: str) -> list[mounts.BucketMount]:
    found = mounts.resolve(load_task(task), "local")
    for mount in found:
        mounts.prepare(mount, cluster, None, "local")
    return found


def test_list_source_uploads_each_folder_under_its_name(fake_store: Path, tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "f.txt").write_text(name)
    (tmp_path / "top.txt").write_text("top")
    sources = [str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "top.txt")]
    _prepare({"file_mounts": {"/d": {"name": "multi", "source": sources, "mode": "COPY"}}}, "c1")
    got = sorted(p.relative_to(fake_store / "multi").as_posix() for p in fake_store.rglob("*.txt"))
    assert got == ["a/f.txt", "b/f.txt", "top.txt"]
    [record] = StorageTable().all()
    assert (record.status, record.source, record.clusters) == (READY, sources, ("c1",))


def test_a_bucket_shared_by_two_clusters_goes_with_the_last(fake_store: Path) -> None:
    task = {"file_mounts": {"/d": {"name": "shared", "persistent": False, "mode": "COPY"}}}
    _prepare(task, "c1")
    _prepare(task, "c2")
    assert StorageTable().get("shared").clusters == ("c1", "c2")  # type: ignore[union-attr]
    assert release_cluster("c1") == []
    assert (fake_store / "shared").is_dir()
    assert release_cluster("c2") == ["shared"]
    assert not (fake_store / "shared").exists() and StorageTable().all() == []


def test_upload_failure_is_recorded_and_named(
    fake_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stix.errors import StixError

    def broken(self: Any, source: Path, bucket: str, prefix: str = "") -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(FakeDirStore, "upload", broken)
    task = {"file_mounts": {"/d": {"name": "bad", "source": str(tmp_path), "mode": "COPY"}}}
    with pytest.raises(StixError, match=r"^file_mounts\./d: upload .*: disk on fire$"):
        _prepare(task, "c1")
    assert StorageTable().get("bad").status == UPLOAD_FAILED  # type: ignore[union-attr]


def test_a_failed_delete_keeps_the_record_for_storage_delete(
    fake_store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from stix.errors import StixError

    _prepare({"file_mounts": {"/d": {"name": "stuck", "persistent": False}}}, "c1")

    def refuse(self: Any, bucket: str) -> None:
        raise StixError("fakefs: access denied")

    monkeypatch.setattr(FakeDirStore, "delete", refuse)
    assert release_cluster("c1") == []
    assert "retry with: stix storage delete stuck" in capsys.readouterr().err
    record = StorageTable().get("stuck")
    assert record is not None and record.clusters == ()
