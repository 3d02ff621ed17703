"""The S3 store against moto: buckets, uploads, deletion, the storage CLI, and node commands run in bash."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aws_fakes import aws_client
from stix.errors import StixError
from stix_aws.store import S3Store, split_url


@pytest.fixture
def s3(aws: str) -> Any:
    return aws_client(aws, "s3")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "sub" / "b.bin").write_bytes(os.urandom(2048))
    (root / "sub" / "deeper" / "c name.txt").write_text("spaces survive\n")
    return root


def test_create_upload_list_delete(s3: Any, data: Path) -> None:
    store = S3Store()
    store.create("stix-test-data")
    store.create("stix-test-data")  # again: nothing happens
    store.upload(data, "stix-test-data", prefix="run1")
    store.upload(data / "a.txt", "stix-test-data")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="stix-test-data")["Contents"])
    assert keys == ["a.txt", "run1/a.txt", "run1/sub/b.bin", "run1/sub/deeper/c name.txt"]
    body = s3.get_object(Bucket="stix-test-data", Key="run1/sub/b.bin")["Body"].read()
    assert body == (data / "sub" / "b.bin").read_bytes()
    assert [b.name for b in store.buckets()] == ["stix-test-data"]
    assert store.is_managed("stix-test-data")

    store.delete("stix-test-data")
    store.delete("stix-test-data")  # gone: fine
    assert s3.list_buckets()["Buckets"] == []


def test_existing_user_bucket_is_not_marked_as_managed(s3: Any) -> None:
    s3.create_bucket(Bucket="users-own")
    store = S3Store()
    store.create("users-own")
    assert not store.is_managed("users-own") and store.buckets() == []
    assert [b.name for b in store.buckets(managed_only=False)] == ["users-own"]
    s3.delete_bucket(Bucket="users-own")


def test_bucket_in_another_region(s3: Any, aws: str) -> None:
    store = S3Store()
    store.create("stix-west", region="us-west-2")
    (info,) = store.buckets()
    assert info.region == "us-west-2"
    store.delete("stix-west")


def test_storage_cli_finds_and_deletes_untracked_stix_buckets(
    s3: Any, data: Path, cli: Any
) -> None:
    """The core's ``stix storage`` asks the S3 store for STIX buckets this machine never recorded."""
    store = S3Store()
    store.create("stix-cli-bucket")  # made by STIX elsewhere: tagged, not in this state DB
    store.upload(data, "stix-cli-bucket")
    s3.create_bucket(Bucket="not-ours")

    assert "stix-cli-bucket" not in cli("storage", "ls").stdout
    listed = cli("storage", "ls", "--all", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert '"stix-cli-bucket"' in listed.stdout and "not-ours" not in listed.stdout
    table = cli("storage", "ls", "--all").stdout
    assert "stix-cli-bucket" in table and "UNTRACKED" in table and "S3" in table

    refused = cli("storage", "delete", "s3://not-ours", "--yes")
    assert refused.exit_code != 0 and "not created by STIX" in refused.stderr

    deleted = cli("storage", "delete", "s3://stix-cli-bucket", "--yes")
    assert deleted.exit_code == 0, deleted.stderr
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["not-ours"]
    assert cli("storage", "ls", "--all", "--json").stdout.strip() == "[]"
    s3.delete_bucket(Bucket="not-ours")


def _bash(script: str, path: str, home: Path) -> subprocess.CompletedProcess[str]:
    import shutil

    env = {"PATH": path, "HOME": str(home)}
    return subprocess.run(
        [shutil.which("bash") or "/bin/bash", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def _bin_without(tmp_path: Path, *tools: str) -> str:
    """A PATH of the usual tools, minus ``tools`` (so the node "lacks" them)."""
    import shutil

    folder = tmp_path / f"bin-without-{'-'.join(tools)}"
    folder.mkdir(exist_ok=True)
    for name in ("mkdir", "dirname", "curl", "mountpoint", "python3", "cat"):
        found = shutil.which(name)
        if found and name not in tools and not (folder / name).exists():
            (folder / name).symlink_to(found)
    return str(folder)


def test_copy_streams_objects_when_the_aws_cli_is_absent(
    s3: Any, data: Path, tmp_path: Path
) -> None:
    store = S3Store()
    store.create("stix-copy")
    store.upload(data, "stix-copy", prefix="ds")
    home = tmp_path / "home"
    home.mkdir()
    script = store.node_commands("s3://stix-copy/ds", "~/dataset", "COPY")
    assert "aws s3 sync" in script  # preferred when the node has the AWS CLI
    done = _bash(script, _bin_without(tmp_path, "aws"), home)
    assert done.returncode == 0, done.stderr
    got = home / "dataset"
    assert (got / "a.txt").read_text() == "alpha\n"
    assert (got / "sub" / "b.bin").read_bytes() == (data / "sub" / "b.bin").read_bytes()
    assert (got / "sub" / "deeper" / "c name.txt").read_text() == "spaces survive\n"

    single = store.node_commands("s3://stix-copy/ds/a.txt", str(tmp_path / "one" / "a.txt"), "COPY")
    assert "aws s3 cp" in single
    assert _bash(single, _bin_without(tmp_path, "aws"), home).returncode == 0
    assert (tmp_path / "one" / "a.txt").read_text() == "alpha\n"
    store.delete("stix-copy")


@pytest.mark.parametrize(
    ("mode", "needs"), [("MOUNT", "goofys, mount-s3 or rclone"), ("MOUNT_CACHED", "rclone")]
)
def test_mount_without_a_fuse_tool_fails_with_one_clear_line(
    aws: str, tmp_path: Path, mode: str, needs: str
) -> None:
    script = S3Store().node_commands("s3://some-bucket/models", str(tmp_path / "mnt"), mode)
    done = _bash(script, _bin_without(tmp_path, "goofys", "mount-s3", "rclone"), tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"stix: {mode} of s3://some-bucket/models needs {needs} on the node; "
        + (
            "install one of them or use mode: COPY"
            if mode == "MOUNT"
            else "install rclone or use mode: COPY"
        )
    ]


def test_mount_commands_name_the_tools(aws: str) -> None:
    mount = S3Store().node_commands("s3://b/p", "/data", "MOUNT")
    assert "goofys" in mount and "mount-s3 b /data --prefix p/" in mount and "rclone mount" in mount
    cached = S3Store().node_commands("s3://b", "/data", "MOUNT_CACHED")
    assert "--vfs-cache-mode full" in cached and ":s3,provider=AWS,env_auth=true:b" in cached


def test_bad_urls_and_modes() -> None:
    assert split_url("s3://bucket/a/b") == ("bucket", "a/b")
    with pytest.raises(StixError, match="not a URL of S3"):
        split_url("gs://bucket")
    with pytest.raises(StixError, match="unknown storage mode"):
        S3Store().node_commands("s3://b", "/x", "SYNC")
