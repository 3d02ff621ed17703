"""What can be refused before a node exists is refused before: missing ``workdir`` and
local ``file_mounts`` sources, and more nodes than the local cloud can hold."""

from __future__ import annotations

from pathlib import Path

import pytest
import stix
from stix.errors import ResourcesUnavailableError, TaskError
from stix.task import load_task


@pytest.fixture
def sdk_home(stix_home, plugin_registry, monkeypatch):
    monkeypatch.setenv("STIX_QUIET", "1")
    yield stix_home
    for record in stix.status():
        stix.down(record.name, purge=True)


def _nothing_made(home: Path) -> None:
    assert stix.status() == []
    local = home / "local"
    assert not local.exists() or not any(local.iterdir()), list(local.iterdir())


def test_missing_workdir_is_reported_before_provisioning(sdk_home: Path, tmp_path: Path) -> None:
    task = load_task({"workdir": str(tmp_path / "gone"), "run": "echo"})
    with pytest.raises(TaskError) as info:
        stix.launch(task, cluster_name="wd1")
    assert info.value.path == "workdir" and "does not exist" in info.value.message
    _nothing_made(sdk_home)


def test_missing_file_mount_source_is_reported_before_provisioning(
    sdk_home: Path, tmp_path: Path
) -> None:
    task = load_task({"file_mounts": {"/data/x": str(tmp_path / "absent")}, "run": "echo"})
    with pytest.raises(TaskError) as info:
        stix.launch(task, cluster_name="fm1")
    assert info.value.path == "file_mounts./data/x"
    _nothing_made(sdk_home)


def test_a_file_instead_of_a_workdir_folder_is_refused(sdk_home: Path, tmp_path: Path) -> None:
    plain = tmp_path / "file.txt"
    plain.write_text("x")
    with pytest.raises(TaskError, match="is not a folder"):
        stix.launch(load_task({"workdir": str(plain), "run": "echo"}), cluster_name="wd2")
    _nothing_made(sdk_home)


def test_local_refuses_more_nodes_than_it_holds(sdk_home: Path) -> None:
    (sdk_home / "config.yaml").write_text("local:\n  max_nodes: 3\n")
    task = load_task({"num_nodes": 4, "run": "echo", "resources": {"infra": "local"}})
    with pytest.raises(ResourcesUnavailableError, match=r"at most 3 sandbox nodes"):
        stix.launch(task, cluster_name="many")
    _nothing_made(sdk_home)


@pytest.mark.parametrize("minutes", [float("nan"), float("inf")])
def test_idle_minutes_must_be_finite(sdk_home: Path, minutes: float) -> None:
    from stix.errors import ClusterError

    with pytest.raises(ClusterError, match="finite"):
        stix.launch(
            load_task({"run": "echo"}), cluster_name="idle1", idle_minutes_to_autostop=minutes
        )
    _nothing_made(sdk_home)


def test_stix_launch_stays_the_function_once_the_cli_imported_its_module() -> None:
    import subprocess
    import sys

    code = (
        "import stix.sdk.launcher, stix;"
        "assert callable(stix.launch) and callable(stix.exec) and callable(stix.submit)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
