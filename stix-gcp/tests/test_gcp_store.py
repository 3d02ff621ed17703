"""The GCS store against ``gcp-storage-emulator`` (real HTTP through google-cloud-storage):
buckets, uploads, listing, deletion, node commands for COPY and MOUNT, and a ``gs://``
file mount copied onto real sshd nodes by ``stix launch``."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from gcp_fakes import FakeComputeApi


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _emulator(host: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    emulator = pytest.importorskip("gcp_storage_emulator.server")
    port = _free_port(host)
    server = emulator.create_server(host, port, in_memory=True)
    server.start()
    url = f"http://{host}:{port}"
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", url)
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The emulator on loopback."""
    yield from _emulator("127.0.0.1", monkeypatch)


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*") if p.is_file()}


def test_bucket_create_upload_list_delete(gcs: str, tmp_path: Path) -> None:
    from stix_gcp.store import GcsStore

    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("A")
    (src / "sub" / "b.txt").write_text("B")
    store = GcsStore()
    assert not store.exists("stix-test-bucket")
    store.create("stix-test-bucket", "us-central1")
    store.create("stix-test-bucket")  # again: nothing happens
    store.upload(src, "stix-test-bucket", "data")
    store.upload(src / "a.txt", "stix-test-bucket")
    assert sorted(store.keys("stix-test-bucket")) == ["a.txt", "data/a.txt", "data/sub/b.txt"]
    assert store.is_managed("stix-test-bucket")
    assert [b.name for b in store.buckets()] == ["stix-test-bucket"]
    store.delete("stix-test-bucket")
    store.delete("stix-test-bucket")  # gone is fine
    assert not store.exists("stix-test-bucket")


def test_copy_commands_fetch_a_folder_and_one_object(gcs: str, tmp_path: Path) -> None:
    from stix_gcp.store import GcsStore

    src = tmp_path / "src"
    (src / "deep" / "er").mkdir(parents=True)
    (src / "x.bin").write_bytes(b"\x00\x01" * 5000)
    (src / "deep" / "er" / "y.txt").write_text("why")
    store = GcsStore()
    store.create("stix-copy")
    try:
        store.upload(src, "stix-copy", "in")
        folder, single = tmp_path / "out", tmp_path / "one" / "y.txt"
        for url, dest in (
            ("gs://stix-copy/in", folder),
            ("gs://stix-copy/in/deep/er/y.txt", single),
        ):
            script = store.node_commands(url, str(dest), "COPY")
            done = subprocess.run(
                ["bash", "-c", script], capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stderr
        assert (folder / "x.bin").read_bytes() == (src / "x.bin").read_bytes()
        assert _tree(folder)["deep/er/y.txt"] == "why"
        assert single.read_text() == "why"
    finally:
        store.delete("stix-copy")


@pytest.mark.skipif(shutil.which("gcsfuse") is not None, reason="gcsfuse is installed here")
@pytest.mark.parametrize("mode", ["MOUNT", "MOUNT_CACHED"])
def test_mount_without_gcsfuse_is_one_clear_line(tmp_path: Path, mode: str) -> None:
    from stix_gcp.store import GcsStore

    script = GcsStore().node_commands("gs://bkt/p", str(tmp_path / "m"), mode)
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"stix: {mode} of gs://bkt/p needs gcsfuse")


def test_bad_mode_and_url_are_rejected() -> None:
    from stix.errors import StixError
    from stix_gcp.store import GcsStore

    with pytest.raises(StixError, match="unknown storage mode"):
        GcsStore().node_commands("gs://b", "/x", "SYNC")
    with pytest.raises(StixError, match="not a URL of GCS"):
        GcsStore().node_commands("s3://b", "/x", "COPY")


def test_gs_file_mount_is_copied_onto_every_node(
    gce: FakeComputeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The emulator listens on the harness bridge, so the nodes' copy script reaches it."""
    import stix.sdk as sdk
    from stix_gcp.store import GcsStore

    bridge = f"10.213.{gce.cloud.slot}.1"
    for _url in _emulator(bridge, monkeypatch):
        store = GcsStore()
        store.create("stix-mounts")
        src = tmp_path / "data"
        src.mkdir()
        (src / "hello.txt").write_text("from gcs\n")
        store.upload(src, "stix-mounts", "ds")
        doc: dict[str, Any] = {
            "num_nodes": 2,
            "resources": {"infra": "gcp/us-central1", "instance_type": "e2-standard-2"},
            "file_mounts": {"~/ds": {"source": "gs://stix-mounts/ds", "mode": "COPY"}},
            "run": "cat ~/ds/hello.txt",
        }
        path = tmp_path / "fm.yaml"
        path.write_text(yaml.safe_dump(doc))
        try:
            assert sdk.launch(str(path), "gfm").status == "SUCCEEDED"
            for inst in gce.instances.values():
                home = gce.cloud.node(inst["_node"]).home
                assert (home / "ds" / "hello.txt").read_text() == "from gcs\n"
        finally:
            sdk.down("gfm")
            store.delete("stix-mounts")
