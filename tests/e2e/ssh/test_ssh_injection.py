"""Shell-injection safety: names, env values and file names reach the node as data, never code."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.fixtures import stix_target
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stix.runner.ssh import SshRunner
from stix.runner.ssh_conn import POOL

PIECES = [*"ab $()`'\"\\;|&<>*?!#~{}=-_.:\t", "$(id)", "`id`", "'; touch /tmp/x; '"]
NASTY = st.lists(st.sampled_from(PIECES), min_size=1, max_size=12).map("".join)
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def runner(ssh_harness: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshRunner]:
    node = ssh_harness.nodes[0]
    known = tmp_path_factory.mktemp("inj") / "known_hosts"
    yield SshRunner(stix_target(ssh_harness, node, known))
    POOL.close_all()


@SETTINGS
@given(value=NASTY)
def test_arguments_and_env_values_are_data(runner: SshRunner, value: str) -> None:
    res = runner.run(["printf", "%s", value])
    # The runner's one documented exception: an argument that is `~` or starts with `~/`
    # names a path in the node's home (quote_arg), and only that prefix is expanded.
    home = runner.run(["printf", "%s", "~"]).stdout
    assert home.startswith("/")
    expected = home + value[1:] if value == "~" or value.startswith("~/") else value
    assert res.stdout == expected
    res = runner.run('printf %s "$V"', env={"V": value})
    assert res.stdout == value


@settings(SETTINGS, max_examples=10)
@given(name=NASTY.filter(lambda s: "/" not in s and s not in (".", "..")))
def test_file_names_are_data(
    runner: SshRunner, ssh_harness: Any, tmp_path: Path, name: str
) -> None:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    for old in src.iterdir():
        old.unlink()
    (src / name).write_text(name)
    runner.sync(src, "~/inj dir")
    runner.put(src / name, f"~/inj put/{name}")
    home = ssh_harness.nodes[0].home
    assert (home / "inj dir" / name).read_text() == name
    assert (home / "inj put" / name).read_text() == name


def test_cluster_names_cannot_inject(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    env = {"HOME": str(tmp_path), "STIX_HOME": str(tmp_path / ".stix"), "PATH": os.environ["PATH"]}
    stix = shutil.which("stix")
    assert stix
    for name in (f"a$(touch {marker})", f"b;touch {marker}", "c d", "e'f"):
        proc = subprocess.run(
            [stix, "launch", "-y", "--infra", "ssh/none", "-c", name, "echo hi"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode != 0
        assert "Traceback" not in proc.stderr
    assert not marker.exists()
