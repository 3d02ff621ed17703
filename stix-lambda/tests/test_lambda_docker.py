"""``image_id: docker:<image>`` on Lambda VMs: the task runs in a container on each node.

The harness nodes behind the fake Lambda API have a real container engine (podman as
``docker``, :mod:`harness.containers`) holding a small image built from this machine's
packages; STIX starts ``sky_container`` from it on every node and runs the agent, setup
and run inside.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from harness.fixtures import IMAGE, IMAGE_NO_PYTHON
from lambda_fakes import FakeLambdaApi
from stix.testing.e2e import run_stix, write_task

pytestmark = pytest.mark.e2e


def test_two_nodes_run_in_the_image_and_keep_setup_state_until_down(
    fake_lambda: FakeLambdaApi, docker_cloud: Any, tmp_path: Path
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "data.txt").write_text("from the workdir\n")
    task = write_task(
        tmp_path,
        name="boxed",
        num_nodes=2,
        workdir=str(workdir),
        resources={
            "infra": "lambda/us-west-1",
            "accelerators": "A10:1",
            "image_id": f"docker:{IMAGE}",
        },
        setup="echo installed > /opt/from-setup",
        run=(
            'echo "rank $SKYPILOT_NODE_RANK of $SKYPILOT_NUM_NODES as $(whoami) in '
            '$(cat /etc/stix-image): $(cat data.txt) $(cat /opt/from-setup) [$STIX_MSG]"'
        ),
        # a quoted value with a space reaches `docker run` as one word
        config={"docker": {"run_options": ['-e "STIX_MSG=two words" --label stix.test=1']}},
    )
    proc = run_stix("launch", "-y", "-c", "boxed", task)
    out = proc.stdout + proc.stderr
    for rank in (0, 1):
        line = (
            f"rank {rank} of 2 as root in stix-test-image: from the workdir installed [two words]"
        )
        assert line in out, out
    held = [docker_cloud.node(i) for i in docker_cloud.assigned()]
    assert [docker_cloud.node_containers(h.node) for h in held] == [["sky_container"]] * 2

    # `ssh boxed` and `ssh boxed-worker1` land in the containers, and scp reaches them
    for alias in ("boxed", "boxed-worker1"):
        seen = _ssh("ssh", alias, "echo $(whoami) $(cat /etc/stix-image /opt/from-setup)")
        assert seen.returncode == 0, seen.stderr
        assert seen.stdout.strip() == "root stix-test-image installed", seen.stdout
    (tmp_path / "sent.txt").write_text("over scp\n")
    copied = _ssh("scp", "-q", str(tmp_path / "sent.txt"), "boxed:/opt/sent.txt")
    assert copied.returncode == 0, copied.stderr
    assert _ssh("ssh", "boxed", "cat /opt/sent.txt").stdout == "over scp\n"
    # `ssh boxed-host` is the VM, outside the image
    vm = _ssh("ssh", "boxed-host", "test -e /etc/stix-image && echo image || echo vm")
    assert vm.stdout.strip() == "vm", (vm.stdout, vm.stderr)

    # exec skips setup: what setup left in the container is still there
    (workdir / "data.txt").write_text("changed\n")
    again = write_task(
        tmp_path, "again.yaml", workdir=str(workdir), run="cat data.txt /opt/from-setup"
    )
    out = run_stix("exec", "boxed", again).stdout
    assert "changed" in out and "installed" in out, out

    queue = json.loads(run_stix("queue", "--json", "boxed").stdout)
    jobs = queue if isinstance(queue, list) else queue.get("jobs", queue)
    assert [j["status"] for j in jobs] == ["SUCCEEDED", "SUCCEEDED"]

    # cancel ends what a job left behind in the containers, escapes included
    escape = "setsid nohup sleep 4242 >/dev/null 2>&1 & (sleep 4243 &) ; sleep 600"
    run_stix("exec", "-d", "boxed", write_task(tmp_path, "esc.yaml", num_nodes=2, run=escape))
    _poll(lambda: len(_sleepers(docker_cloud, held)) == 6, "every rank's sleeps to start")
    run_stix("cancel", "-y", "boxed", "3")
    _poll(lambda: not _sleepers(docker_cloud, held), "the cancelled job's processes to end")

    run_stix("down", "-y", "boxed")
    assert not fake_lambda.instances and docker_cloud.assigned() == []
    assert all(docker_cloud.node_containers(h.node) == [] for h in held)


def _ssh(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``ssh``/``scp`` with the user's config, where STIX writes the clusters' entries."""
    config = Path.home() / ".ssh" / "config"
    argv = [tool, "-F", str(config), "-o", "BatchMode=yes", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def _sleepers(cloud: Any, held: list[Any]) -> list[str]:
    """The test's sleep processes (``sleep 424x``/``sleep 600``) in the nodes' containers."""
    found = []
    for h in held:
        for pid in cloud.node_pids(h.node):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[0] == b"sleep" and argv[1:2] in ([b"4242"], [b"4243"], [b"600"]):
                found.append(f"{h.instance_id}:{argv[1].decode()}")
    return found


def _poll(check: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


@pytest.mark.parametrize(
    ("image", "error"),
    [
        (IMAGE_NO_PYTHON, f"image {IMAGE_NO_PYTHON} lacks python3"),
        ("localhost/not-there:1", "cannot pull image localhost/not-there:1"),
    ],
)
def test_an_image_it_cannot_run_in_fails_clearly_and_leaves_nothing(
    fake_lambda: FakeLambdaApi, docker_cloud: Any, tmp_path: Path, image: str, error: str
) -> None:
    task = write_task(
        tmp_path,
        resources={"infra": "lambda/us-west-1", "accelerators": "A10:1",
                   "image_id": f"docker:{image}"},
        run="true",
    )  # fmt: skip
    proc = run_stix("launch", "-y", "-c", "bare", task, check=False)
    assert proc.returncode == 1
    assert error in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not fake_lambda.instances and docker_cloud.assigned() == []
    assert "bare" not in run_stix("status").stdout


def test_a_private_registry_login_that_fails_names_the_server_and_hides_the_password(
    fake_lambda: FakeLambdaApi, docker_cloud: Any, tmp_path: Path
) -> None:
    password = "hunter2-registry-pass"
    task = write_task(
        tmp_path,
        envs={"SKYPILOT_DOCKER_USERNAME": "me", "SKYPILOT_DOCKER_SERVER": "127.0.0.1:9"},
        secrets={"SKYPILOT_DOCKER_PASSWORD": password},
        resources={"infra": "lambda/us-west-1", "accelerators": "A10:1",
                   "image_id": "docker:127.0.0.1:9/team/private:1"},
        run="true",
    )  # fmt: skip
    proc = run_stix("launch", "-y", "-c", "priv", task, check=False)
    assert proc.returncode == 1
    assert "docker login to 127.0.0.1:9 failed" in proc.stderr, proc.stderr
    assert password not in proc.stdout + proc.stderr
    assert not fake_lambda.instances and docker_cloud.assigned() == []

    half = write_task(
        tmp_path,
        "half.yaml",
        envs={"SKYPILOT_DOCKER_USERNAME": "me"},
        resources={"infra": "lambda", "image_id": f"docker:{IMAGE}"},
        run="true",
    )
    launches = len(fake_lambda.launches)
    proc = run_stix("launch", "-y", "-c", "half", half, check=False)
    assert proc.returncode == 1 and "missing SKYPILOT_DOCKER_PASSWORD" in proc.stderr, proc.stderr
    assert len(fake_lambda.launches) == launches  # refused before any instance was asked for
