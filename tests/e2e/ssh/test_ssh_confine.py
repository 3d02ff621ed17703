"""Copies to ssh nodes stay in the home: ``..`` and links planted there never lead out."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from harness.fixtures import stix_target as target_for
from stix.errors import ClusterError
from stix.runner import ssh_sync
from stix.runner.ssh import SshRunner
from stix.runner.ssh_conn import POOL


@pytest.fixture
def runner(ssh_nodes, tmp_path: Path) -> SshRunner:
    yield SshRunner(target_for(ssh_nodes, ssh_nodes.nodes[0], tmp_path / "kh"), is_head=True)
    POOL.close_all()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@pytest.mark.parametrize("inline", [True, False])
def test_planted_links_do_not_redirect_copies(
    runner: SshRunner,
    ssh_nodes,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    inline: bool,
) -> None:
    if not inline:
        monkeypatch.setattr(ssh_sync, "INLINE_LIMIT", 0)
    home = ssh_nodes.nodes[0].home
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("mine")
    src = tmp_path / "src"
    src.mkdir()
    (src / "precious").write_text("overwritten")
    assert runner.run(f"ln -sfn {outside} ~/data && ln -sfn {outside}/precious ~/file").ok
    for planted in ("data", "file", "inside"):  # the node is shared: leave it as found
        request.addfinalizer(lambda p=home / planted: _remove(p))
    for dest in ("~/data/precious", "~/file", "~/data/../../" + str(outside)[1:] + "/precious"):
        with pytest.raises(ClusterError, match="leaves the home"):
            runner.put(src / "precious", dest)
    with pytest.raises(ClusterError, match="leaves the home"):
        runner.sync(src, "~/data")
    assert (outside / "precious").read_text() == "mine"
    runner.put(src / "precious", "~/inside/precious")  # the ordinary case still works
    assert (home / "inside" / "precious").read_text() == "overwritten"
