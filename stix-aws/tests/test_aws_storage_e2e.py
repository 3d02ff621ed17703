"""Bucket file_mounts and S3 storage objects end to end: the real ``stix`` CLI on the local cloud.

Nodes are local sandboxes; S3 is moto's server on loopback, reached by the
client (bucket creation, upload, deletion) and by the nodes themselves (COPY runs
``aws s3 sync`` or streams presigned URLs), all through real HTTP.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_fakes import aws_client

STIX = str(Path(sys.executable).parent / "stix")


class Cli:
    """Runs ``stix`` as a user would, in this test's STIX_HOME and moto environment."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.env = {k: v for k, v in os.environ.items() if k != "STIX_LOCAL_GPUS"}

    def __call__(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [STIX, *args],
            capture_output=True,
            text=True,
            cwd=self.cwd,
            env={**self.env, **env},
            timeout=120,
        )
        if check:
            assert done.returncode == 0, f"stix {' '.join(args)}\n{done.stdout}\n{done.stderr}"
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def stix(aws: str, stix_home: Path, tmp_path: Path) -> Iterator[Cli]:
    cli = Cli(tmp_path)
    yield cli
    cli("down", "-a", "-y", check=False)


@pytest.fixture
def s3(aws: str) -> Any:
    return aws_client(aws, "s3")


def _buckets(s3: Any) -> list[str]:
    return sorted(b["Name"] for b in s3.list_buckets()["Buckets"])


def _task(tmp_path: Path, body: dict[str, Any]) -> str:
    import yaml

    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(body))
    return str(path)


def test_bucket_url_and_storage_objects_reach_the_node(stix: Cli, s3: Any, tmp_path: Path) -> None:
    s3.create_bucket(Bucket="stix-e2e-pre")
    s3.put_object(Bucket="stix-e2e-pre", Key="data/in.txt", Body=b"from-an-existing-bucket\n")
    s3.put_object(Bucket="stix-e2e-pre", Key="data/deep/two.txt", Body=b"nested-object\n")
    local = tmp_path / "to-upload"
    (local / "sub").mkdir(parents=True)
    (local / "sub" / "up.txt").write_text("uploaded-by-stix\n")
    (tmp_path / "one.txt").write_text("a-single-file\n")
    task = _task(
        tmp_path,
        {
            "run": "cat ~/in/in.txt ~/in/deep/two.txt ~/up/sub/up.txt ~/keep/one.txt",
            "file_mounts": {
                "~/in": "s3://stix-e2e-pre/data",
                "~/up": {
                    "name": "stix-e2e-scratch",
                    "source": str(local),
                    "store": "s3",
                    "mode": "COPY",
                    "persistent": False,
                },
                "~/keep": {
                    "name": "stix-e2e-keep",
                    "source": str(tmp_path / "one.txt"),
                    "store": "s3",
                    "mode": "COPY",
                },
            },
        },
    )
    launched = stix("launch", "-y", "-c", "s3e", task)
    assert "SUCCEEDED" in launched.stderr
    log = stix("logs", "s3e", "1").stdout.split()
    assert log == ["from-an-existing-bucket", "nested-object", "uploaded-by-stix", "a-single-file"]
    assert "testing" not in launched.stdout + launched.stderr  # no credential in any output
    assert _buckets(s3) == ["stix-e2e-keep", "stix-e2e-pre", "stix-e2e-scratch"]

    rows = {r["name"]: r for r in stix.json("storage", "ls")}
    assert set(rows) == {"stix-e2e-keep", "stix-e2e-scratch"}
    for row in rows.values():
        assert (row["store"], row["status"], row["clusters"], row["managed"]) == (
            "s3",
            "READY",
            ["s3e"],
            True,
        )
    assert rows["stix-e2e-scratch"]["persistent"] is False

    stix("down", "-y", "s3e")
    assert _buckets(s3) == ["stix-e2e-keep", "stix-e2e-pre"]  # persistent: false is gone
    assert [r["name"] for r in stix.json("storage", "ls")] == ["stix-e2e-keep"]
    table = stix("storage", "ls").stdout
    assert "stix-e2e-keep" in table and "READY" in table

    deleted = stix("storage", "delete", "stix-e2e-keep", "-y")
    assert "Deleted storage stix-e2e-keep (s3)." in deleted.stderr
    assert stix.json("storage", "ls") == []
    assert _buckets(s3) == ["stix-e2e-pre"]  # the user's bucket is never touched
    for key in ("data/in.txt", "data/deep/two.txt"):
        s3.delete_object(Bucket="stix-e2e-pre", Key=key)
    s3.delete_bucket(Bucket="stix-e2e-pre")


def test_autodown_deletes_a_non_persistent_bucket(stix: Cli, s3: Any, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("short-lived\n")
    task = _task(
        tmp_path,
        {
            "run": "cat ~/tmp/f.txt",
            "file_mounts": {
                "~/tmp": {
                    "name": "stix-e2e-auto",
                    "source": str(tmp_path / "f.txt"),
                    "store": "s3",
                    "mode": "COPY",
                    "persistent": False,
                }
            },
        },
    )
    out = stix("launch", "-y", "-c", "s3auto", "--down", task)
    assert "short-lived" in out.stdout
    deadline = time.time() + 30
    while time.time() < deadline and (stix.json("status") or _buckets(s3)):
        time.sleep(0.2)  # the bucket goes right after the cluster's record
    assert stix.json("status") == [], "the cluster was not torn down when idle"
    assert _buckets(s3) == []
    assert stix.json("storage", "ls") == []


def test_mount_without_a_fuse_tool_is_one_clear_line(stix: Cli, s3: Any, tmp_path: Path) -> None:
    if any(shutil.which(t) for t in ("goofys", "mount-s3", "rclone")):
        pytest.skip("this machine has a FUSE tool for S3")
    task = _task(
        tmp_path,
        {"run": "ls ~/m", "file_mounts": {"~/m": {"name": "stix-e2e-mnt", "store": "s3"}}},
    )
    failed = stix("launch", "-y", "-c", "s3m", task, check=False)
    assert failed.returncode == 1
    [line] = [ln for ln in failed.stderr.splitlines() if ln.startswith("Error:")]
    assert line.startswith("Error: file_mounts.~/m: MOUNT failed on node s3m-")
    assert line.endswith(
        ": stix: MOUNT of s3://stix-e2e-mnt needs goofys, mount-s3 or rclone on the node; "
        "install one of them or use mode: COPY"
    )
    [row] = stix.json("storage", "ls")
    assert (row["name"], row["status"]) == ("stix-e2e-mnt", "READY")  # the bucket itself is fine
    stix("down", "-y", "s3m")
    stix("storage", "delete", "-a", "-y")
    assert _buckets(s3) == []


def test_without_the_aws_plugin_launch_stops_before_provisioning(stix: Cli, tmp_path: Path) -> None:
    task = _task(tmp_path, {"run": "true", "file_mounts": {"/data": "s3://some-bucket/data"}})
    failed = stix("launch", "-y", "-c", "noplug", task, check=False, STIX_DISABLE_PLUGINS="aws")
    assert failed.returncode == 1
    assert failed.stderr.splitlines()[-2:] == [
        "Error: file_mounts./data: no installed plugin provides store 's3'",
        "Hint: pip install stix-aws",
    ]
    assert stix.json("status") == []
