"""The Blob store against Azurite: containers, upload, list, delete, and the node commands.

COPY's node script runs here in a real bash with curl against Azurite through a SAS URL;
MOUNT and MOUNT_CACHED without their FUSE tools fail with one line naming what to install.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from azure_azurite import ACCOUNT
from stix.errors import StixError


def tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.txt").write_text("beta")
    return src


def test_create_upload_list_delete(blob: Any, tmp_path: Path) -> None:
    assert not blob.exists("stix-data")
    blob.create("stix-data")
    blob.create("stix-data")  # exists: fine
    assert blob.exists("stix-data") and blob.is_managed("stix-data")
    blob.upload(tree(tmp_path), "stix-data", "run1")
    blob.upload(tmp_path / "src" / "a.txt", "stix-data")
    assert sorted(blob.keys("stix-data")) == ["a.txt", "run1/a.txt", "run1/sub/b.txt"]
    assert blob.keys("stix-data", "run1/sub") == ["run1/sub/b.txt"]
    assert [b.name for b in blob.buckets()] == ["stix-data"]
    assert blob.bucket_url("stix-data") == f"https://{ACCOUNT}.blob.core.windows.net/stix-data"
    blob.delete("stix-data")
    assert not blob.exists("stix-data")
    blob.delete("stix-data")  # already gone: fine


def test_containers_stix_did_not_create_are_not_managed(blob: Any, azurite_connection: str) -> None:
    from azure.storage.blob import BlobServiceClient

    BlobServiceClient.from_connection_string(azurite_connection).create_container("theirs")
    assert blob.exists("theirs") and not blob.is_managed("theirs")
    assert blob.buckets() == [] and [b.name for b in blob.buckets(managed_only=False)] == ["theirs"]


def run_bash(script: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-s"], input=script, capture_output=True, text=True, timeout=60, env=env
    )


def test_copy_mode_downloads_through_a_sas_url(blob: Any, tmp_path: Path) -> None:
    blob.create("stix-copy")
    blob.upload(tree(tmp_path), "stix-copy", "data")
    blob.upload(tmp_path / "src" / "a.txt", "stix-copy", "database")  # shares the prefix "data"
    url = f"https://{ACCOUNT}.blob.core.windows.net/stix-copy/data"
    script = blob.node_commands(url, str(tmp_path / "out"), "COPY")
    assert "sig=" in script  # a SAS, never the account key
    done = run_bash(script)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "a.txt").read_text() == "alpha"
    assert (tmp_path / "out" / "sub" / "b.txt").read_text() == "beta"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.txt", "sub"]
    single = blob.node_commands("az://stix-copy/data/sub/b.txt", str(tmp_path / "one.txt"), "COPY")
    assert run_bash(single).returncode == 0
    assert (tmp_path / "one.txt").read_text() == "beta"


@pytest.mark.parametrize(
    ("mode", "tool"), [("MOUNT", "blobfuse2"), ("MOUNT_CACHED", "rclone or blobfuse2")]
)
def test_mount_without_its_tool_names_what_to_install(
    blob: Any, tmp_path: Path, mode: str, tool: str
) -> None:
    import os

    blob.create("stix-mnt")
    script = blob.node_commands("az://stix-mnt", str(tmp_path / "mnt"), mode)
    assert "blobfuse2 mount" in script
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    if any(
        Path(d, "blobfuse2").exists() or Path(d, "rclone").exists() for d in ("/usr/bin", "/bin")
    ):
        pytest.skip("a FUSE tool is installed here")
    done = run_bash(script, env={**env, "LANG": os.environ.get("LANG", "C")})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith(f"stix: {mode} of stix-mnt needs {tool}")


def test_urls(stix_home: Path) -> None:
    from stix_azure.store import BlobStore, split_url

    from conftest import write_config

    write_config(stix_home, storage_account=ACCOUNT)
    assert BlobStore().bucket_url("box") == f"https://{ACCOUNT}.blob.core.windows.net/box"

    assert split_url("https://acct1.blob.core.windows.net/box/a/b") == ("acct1", "box", "a/b")
    assert split_url("az://box") == (ACCOUNT, "box", "")
    with pytest.raises(StixError, match="not a valid container name"):
        split_url("az://Bad_Name")
    with pytest.raises(StixError, match="not an Azure Blob URL"):
        split_url("s3://x")
