"""FIFO order, head-of-line blocking, no over-commit and gang start, with real processes."""

from __future__ import annotations

import itertools

import pytest


def _stamp(tag: str, seconds: float = 0.6) -> str:
    return (
        f"echo start $(date +%s.%N) >> $HOME/{tag}-$SKYPILOT_NODE_RANK; sleep {seconds}; "
        f"echo end $(date +%s.%N) >> $HOME/{tag}-$SKYPILOT_NODE_RANK"
    )


def _span(path) -> tuple[float, float]:
    lines = dict(line.split() for line in path.read_text().splitlines())
    return float(lines["start"]), float(lines["end"])


def test_fifo_without_over_commit(make_cluster):
    cluster = make_cluster([{"cpus": 1}])
    ids = cluster.submit(
        *[{"name": f"j{i}", "run": _stamp(f"j{i}"), "resources": {"cpus": 1}} for i in range(3)]
    )
    for job_id in ids:
        assert cluster.wait(job_id)["status"] == "SUCCEEDED"
    spans = [_span(cluster.homes[0] / f"j{i}-0") for i in range(3)]
    for earlier, later in itertools.pairwise(spans):
        assert later[0] >= earlier[1], spans  # one after the other, in id order


def test_head_of_line_blocking(make_cluster):
    cluster = make_cluster([{"cpus": 2}])
    big, blocked, small = cluster.submit(
        {"name": "big", "run": _stamp("big", 1.0), "resources": {"cpus": 1.5}},
        {"name": "blocked", "run": _stamp("blocked", 0.1), "resources": {"cpus": 1}},
        {"name": "small", "run": _stamp("small", 0.1), "resources": {"cpus": 0.5}},
    )
    for job_id in (big, blocked, small):
        assert cluster.wait(job_id)["status"] == "SUCCEEDED"
    big_span = _span(cluster.homes[0] / "big-0")
    small_span = _span(cluster.homes[0] / "small-0")
    blocked_span = _span(cluster.homes[0] / "blocked-0")
    assert small_span[0] >= big_span[1]  # fits, but waits behind the blocked job
    assert blocked_span[0] >= big_span[1]


def test_concurrent_jobs_share_a_node(make_cluster):
    cluster = make_cluster([{"cpus": 2}])
    a, b = cluster.submit(
        {
            "name": "a",
            "run": "touch $HOME/a; for i in $(seq 100); do [ -e $HOME/b ] && exit 0; sleep 0.1; done; exit 1",
            "resources": {"cpus": 1},
        },
        {
            "name": "b",
            "run": "touch $HOME/b; for i in $(seq 100); do [ -e $HOME/a ] && exit 0; sleep 0.1; done; exit 1",
            "resources": {"cpus": 1},
        },
    )
    assert cluster.wait(a)["status"] == "SUCCEEDED"
    assert cluster.wait(b)["status"] == "SUCCEEDED"


def test_gang_start_waits_for_all_nodes(make_cluster):
    cluster = make_cluster([{"cpus": 1}, {"cpus": 1}])
    single, gang = cluster.submit(
        {"name": "one", "run": _stamp("one", 1.0), "resources": {"cpus": 1}},
        {"name": "gang", "num_nodes": 2, "run": _stamp("gang", 0.1), "resources": {"cpus": 1}},
    )
    assert cluster.wait(gang)["status"] == "SUCCEEDED"
    one_end = _span(cluster.homes[0] / "one-0")[1]
    # node 1 was free all along, yet rank 1 did not start before rank 0 could
    starts = [_span(cluster.homes[r] / f"gang-{r}")[0] for r in range(2)]
    assert min(starts) >= one_end
    assert cluster.job(single)["status"] == "SUCCEEDED"


def test_job_that_never_fits_is_refused(make_cluster):
    cluster = make_cluster([{"cpus": 1}])
    proc = cluster.run("submit", stdin={"run": "true", "resources": {"gpus": 1}}, check=False)
    assert proc.returncode == 2
    assert "cannot fit" in proc.stdout
    proc = cluster.run("submit", stdin={"run": "true", "num_nodes": 2}, check=False)
    assert proc.returncode == 2


@pytest.mark.parametrize("count", [50])
def test_batch_submit_runs_everything(make_cluster, count):
    cluster = make_cluster([{"cpus": 4}])
    ids = cluster.submit(*[{"name": f"t{i}", "run": "true"} for i in range(count)])
    assert ids == list(range(ids[0], ids[0] + count))
    assert cluster.wait(ids[-1], timeout=60)["status"] == "SUCCEEDED"
    statuses = {j["status"] for j in cluster.call("queue")["jobs"]}
    assert statuses == {"SUCCEEDED"}
