"""Destinations stay inside the node: ``..`` and planted symlinks never lead a copy out."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from stix.errors import ClusterError, TaskError
from stix.runner.local import LocalRunner
from stix.storage.confine import check_destination, check_destinations, inside
from stix.task import load_task


@pytest.fixture
def node(tmp_path):
    home = tmp_path / "sandbox" / "node-0" / "home"
    home.mkdir(parents=True)
    outside = tmp_path / "user-files"
    outside.mkdir()
    (outside / "precious").write_text("mine")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "precious").write_text("overwritten")
    (src / "sub" / "precious").write_text("overwritten")
    return LocalRunner(home, str(home.parent)), outside, src


def test_dotdot_destination_cannot_leave_the_sandbox(node, tmp_path):
    runner, outside, src = node
    climb = "../" * 6 + str(outside).lstrip("/") + "/precious"
    with pytest.raises(ClusterError, match=r"leaves|climbs"):
        runner.put(src / "precious", climb)
    with pytest.raises(ClusterError, match=r"leaves|climbs"):
        runner.sync(src, "~/" + "../" * 6 + str(outside).lstrip("/"))
    # Absolute paths map into the sandbox, normalised first.
    runner.put(src / "precious", "/../../etc/copy")
    assert (runner.home / "etc" / "copy").read_text() == "overwritten"
    assert (outside / "precious").read_text() == "mine"


def test_symlink_planted_by_setup_does_not_redirect_a_copy(node):
    runner, outside, src = node
    # What a setup script can do: plant links inside the node's home.
    assert runner.run(f"ln -s {outside} ~/data && ln -s {outside}/precious ~/file").ok
    with pytest.raises(ClusterError, match="leaves"):
        runner.sync(src, "~/data")
    with pytest.raises(ClusterError, match="leaves"):
        runner.put(src / "precious", "~/file")
    with pytest.raises(ClusterError, match="leaves"):
        runner.put(src / "precious", "~/data/precious")
    # A link deeper in a synced tree is replaced like rsync does, never followed.
    assert runner.run(f"mkdir -p ~/tree && ln -s {outside} ~/tree/sub").ok
    runner.sync(src, "~/tree")
    assert not (runner.home / "tree" / "sub").is_symlink()
    assert (runner.home / "tree" / "sub" / "precious").read_text() == "overwritten"
    assert (outside / "precious").read_text() == "mine"


def test_links_that_stay_inside_are_followed(node):
    runner, _outside, src = node
    assert runner.run("mkdir -p ~/real && ln -s ~/real ~/alias").ok
    runner.put(src / "precious", "~/alias/copy")
    assert (runner.home / "real" / "copy").read_text() == "overwritten"
    assert inside(runner.home, "~") == runner.home.resolve()


@pytest.mark.parametrize(
    "dest",
    ["../../../../tmp/x", "~/../x", "a/../../x", "~root/.bashrc", "~/ok/../../.."],
)
def test_escaping_destinations_are_refused_at_validate_time(dest):
    task = load_task({"run": "true", "file_mounts": {dest: "."}})
    with pytest.raises(TaskError) as info:
        check_destinations(task)
    assert str(info.value).startswith(f"file_mounts.{dest}: ")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("dest", "normal"),
    [("~/a/../b", "~/b"), ("/data/./x", "/data/x"), ("/../../tmp", "/tmp"), ("rel", "~/rel")],
)
def test_destinations_that_stay_inside_are_normalised(dest, normal):
    assert check_destination(dest, "file_mounts") == normal


def test_stix_validate_names_the_field(tmp_path):
    task = tmp_path / "t.yaml"
    task.write_text("run: 'true'\nfile_mounts:\n  ../../../../tmp/x: .\n")
    proc = subprocess.run(
        [sys.executable, "-m", "stix", "validate", str(task)],
        capture_output=True,
        text=True,
        env={**os.environ, "STIX_HOME": str(tmp_path / "home")},
    )
    assert proc.returncode == 1
    [line] = proc.stderr.strip().splitlines()
    assert "file_mounts.../../../../tmp/x:" in line and "climbs out" in line


def test_node_shell_guard_refuses_links_out_of_the_home(tmp_path):
    from stix.storage.confine import guarded

    home = tmp_path / "h"
    (home / "real").mkdir(parents=True)
    outside = tmp_path / "out"
    outside.mkdir()
    (home / "data").symlink_to(outside)

    def run(dest: str) -> subprocess.CompletedProcess[str]:
        script = guarded(dest, 'mkdir -p "$1" && touch "$1/made"')
        return subprocess.run(
            ["bash", "-s"],
            input=script,
            capture_output=True,
            text=True,
            env={**os.environ, "HOME": str(home)},
            cwd=home,
        )

    bad = run("~/data/x")
    assert bad.returncode == 3 and "leaves the home" in bad.stderr
    assert list(outside.iterdir()) == []
    assert run("~/real/x").returncode == 0 and (home / "real" / "x" / "made").exists()
    assert run("rel dir").returncode == 0 and (home / "rel dir" / "made").exists()
    absolute = tmp_path / "abs"
    assert run(str(absolute)).returncode == 0  # an absolute path's root is '/'
