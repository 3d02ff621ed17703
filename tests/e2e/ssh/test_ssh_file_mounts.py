"""File mounts on pool hosts (the user's own machines): ``down`` removes every path STIX
created for them, at any location, and leaves alone what was there before."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.e2e


# Folders of STIX itself on a node; `down` removes them whoever made them.
STIX_OWNED = {".stix_agent", ".stix_cluster", "sky_workdir", "sky_logs"}


def _stix(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["stix", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"stix {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_down_removes_what_file_mounts_created_and_nothing_else(
    ssh_nodes: Any, tmp_path: Path
) -> None:
    node = ssh_nodes.nodes[0]
    home = Path(os.environ["STIX_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    pools = {
        "fm": {
            "identity_file": str(ssh_nodes.key),
            "hosts": [{"ip": node.ip, "port": node.port, "user": node.user}],
        }
    }
    (home / "ssh_node_pools.yaml").write_text(yaml.safe_dump(pools))
    src = tmp_path / "src dir"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f.txt").write_text("folder")
    single = tmp_path / "one file.txt"
    single.write_text("file")
    # The harness nodes are shared by this worker's tests: compare with what was there.
    before = sorted(p.name for p in node.home.iterdir())
    # The user's own things on the host, next to and around the mount points.
    mine = node.home / "existing"
    mine.mkdir()
    (mine / "mine.txt").write_text("keep me")
    absolute = Path("/tmp") / f"stix-fm-{uuid.uuid4().hex[:8]}"
    subprocess.run(["chown", node.user, str(mine), str(mine / "mine.txt")], check=True)
    mounts = {
        f"{absolute}/deep/data": str(src),  # absolute, two missing levels
        "~/mounts/a b/one.txt": str(single),  # under the home, missing parents
        "~/existing/added": str(src),  # inside a folder the user already had
    }
    task = tmp_path / "t.yaml"
    run = f"cat {absolute}/deep/data/sub/f.txt ~/'mounts/a b/one.txt' ~/existing/added/sub/f.txt"
    task.write_text(yaml.safe_dump({"file_mounts": mounts, "run": run}))
    try:
        proc = _stix("launch", "-y", "--infra", "ssh/fm", "-c", "fm", str(task))
        assert "folderfilefolder" in proc.stdout.replace("\n", "")
        assert (absolute / "deep" / "data" / "sub" / "f.txt").exists()
        _stix("down", "-y", "fm")
        assert not absolute.exists()
        assert not (node.home / "mounts").exists()
        assert not (mine / "added").exists()
        assert (mine / "mine.txt").read_text() == "keep me"
        after = sorted(p.name for p in node.home.iterdir())
        assert not set(after) & STIX_OWNED  # down removes STIX's own folders...
        # ...and nothing else: what other tests left on this shared node is untouched
        assert after == sorted({*before, "existing"} - STIX_OWNED)
    finally:
        subprocess.run(["rm", "-rf", str(absolute), str(mine)], check=False)
