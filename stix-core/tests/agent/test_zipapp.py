"""The shipped agent: one zipapp, standard library only, Python 3.8 syntax."""

from __future__ import annotations

import ast
import sys
import zipfile


def test_zipapp_is_stdlib_only_and_py38(agent_pyz):
    with zipfile.ZipFile(agent_pyz) as zf:
        names = zf.namelist()
        assert "__main__.py" in names
        sources = {n: zf.read(n).decode() for n in names if n.endswith(".py")}
    assert "stix_agent/cli.py" in sources
    for name, text in sources.items():
        tree = ast.parse(text, name, feature_version=(3, 8))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                tops = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                tops = [(node.module or "").split(".")[0]]
            else:
                continue
            for top in tops:
                assert top in sys.stdlib_module_names or top in ("__future__", "stix_agent"), (
                    name,
                    top,
                )


def test_submit_without_init_is_a_clear_error(make_cluster, tmp_path):
    cluster = make_cluster()
    real = cluster.agent_home
    cluster.agent_home = tmp_path / "empty"
    try:
        proc = cluster.run("submit", stdin={"run": "true"}, check=False)
    finally:
        cluster.agent_home = real
    assert proc.returncode == 2
    assert "not initialised" in proc.stdout


def test_jobs_without_setup_go_straight_to_running(make_cluster):
    cluster = make_cluster()
    [job_id] = cluster.submit({"run": "sleep 1"})
    cluster.wait_status(job_id, "RUNNING")
    assert cluster.wait(job_id)["status"] == "SUCCEEDED"


def test_zipapp_builds_race_free_across_threads(tmp_path):
    """Several threads of one process (a jobs controller launching clusters) build at once."""
    from concurrent.futures import ThreadPoolExecutor

    from stix.agent.build import build_zipapp

    dest = tmp_path / "agent.pyz"
    with ThreadPoolExecutor(max_workers=8) as pool:
        paths = list(pool.map(lambda _: build_zipapp(dest), range(16)))
    assert set(paths) == {dest}
    import zipfile

    assert "stix_agent/cli.py" in zipfile.ZipFile(dest).namelist()
    assert not list(tmp_path.glob("*.tmp"))
