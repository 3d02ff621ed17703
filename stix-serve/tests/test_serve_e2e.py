"""Services end to end on the local cloud: a real controller cluster and process, real
replica clusters running an aiohttp app, and real clients hammering the endpoint.

One STIX home and one controller are shared by the tests of this module (each test
uses its own service); the last check is that nothing is left running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from serve_helpers import (
    FAST_CONFIG,
    Hammer,
    controller_home,
    down_everything,
    get,
    live,
    node_processes,
    poll,
    service_yaml,
)
from stix_serve import sdk


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("serve") / "stix-home"
    root.mkdir()
    saved = {k: os.environ.get(k) for k in ("STIX_HOME", "STIX_CONFIG", "STIX_PROJECT_CONFIG")}
    os.environ["STIX_HOME"] = str(root)
    os.environ["STIX_CONFIG"] = str(root / "config.yaml")
    os.environ["STIX_PROJECT_CONFIG"] = str(root / "no-project.yaml")
    (root / "config.yaml").write_text(yaml.safe_dump(FAST_CONFIG))
    try:
        yield root
    finally:
        try:
            down_everything()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def one(name: str) -> dict:  # type: ignore[type-arg]
    return sdk.status([name])[0]


def ready_count(name: str, count: int, version: int | None = None) -> object:
    service = one(name)
    replicas = live(service)
    ready = [r for r in replicas if r["status"] == "READY"]
    if version is not None and any(r["version"] != version for r in replicas):
        return False
    return service if len(ready) == count == len(replicas) else False


def test_readiness_gates_traffic_then_down_leaves_nothing(home: Path, tmp_path: Path) -> None:
    # the app answers / with 500 until READY_AFTER: the LB must not send traffic before
    probe = {
        "path": "/health",
        "post_data": {"probe": "yes"},
        "headers": {"X-Probe": "1"},
        "initial_delay_seconds": 60,
        "endpoint_probe_interval_seconds": 1,
    }
    task = service_yaml(
        tmp_path,
        "gated",
        service={"replicas": 1, "readiness_probe": probe},
        envs={"READY_AFTER": "4"},
    )
    result = sdk.up(task, "gated")
    endpoint = result["endpoint"]
    assert endpoint.startswith("http://127.")
    seen_starting = False
    with Hammer(endpoint + "/", threads=1, pause=0.05) as hammer:

        def answered() -> bool:
            nonlocal seen_starting
            states = [r["status"] for r in one("gated")["replicas"]]
            seen_starting = seen_starting or "STARTING" in states
            return any(r[1] == 200 for r in hammer.results)

        poll(answered, 60, "a first answer through the load balancer")
    statuses = {r[1] for r in hammer.results}
    assert statuses <= {200, 503}, hammer.failures()[:3]
    assert 503 in statuses and seen_starting  # it was up but not ready, and got no traffic
    assert hammer.results[-1][1] == 200 and "hello from 1" in hammer.results[-1][2]

    service = one("gated")
    assert service["status"] == "READY" and service["version"] == 1
    [replica] = service["replicas"]
    assert (replica["cluster"], replica["infra"]) == ("gated-1", "local/local")

    assert "READY" in sdk.logs("gated", kind="controller")
    assert "GET / 200" in sdk.logs("gated", kind="load_balancer")
    assert "Job submitted" in sdk.logs("gated", 1)  # the replica's launch, then its job log
    cli_logs = subprocess.run(
        [sys.executable, "-m", "stix", "serve", "logs", "gated", "1"],
        capture_output=True,
        text=True,
    )
    assert cli_logs.returncode == 0 and "Job submitted" in cli_logs.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "stix", "serve", "logs", "gated", "7"],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1 and "has no replica 7" in missing.stderr

    replica_home = controller_home(home) / "local"
    assert node_processes(replica_home)
    # the controller is neither stopped nor torn down under a live service; --all skips it
    controller = sdk.controller_name()
    for argv in (["down", "-y", controller], ["stop", "-y", controller]):
        refused = subprocess.run(
            [sys.executable, "-m", "stix", *argv], capture_output=True, text=True
        )
        assert refused.returncode == 1, refused.stderr
        assert "still runs service(s) gated" in refused.stderr
        assert "stix serve down gated" in refused.stderr and "Traceback" not in refused.stderr
    every = subprocess.run(
        [sys.executable, "-m", "stix", "down", "-a", "-y"], capture_output=True, text=True
    )
    assert every.returncode == 0 and f"Skipping cluster {controller}" in every.stderr
    assert one("gated")["status"] == "READY"
    assert sdk.down(["gated"]) == ["gated"]
    assert sdk.status() == []
    assert get(endpoint + "/")[0] == 0  # the endpoint is closed
    poll(lambda: not node_processes(replica_home), 20, "replica processes to end")
    assert not [p for p in replica_home.glob("*") if p.is_dir()]  # no replica sandbox left
    from stix.state.clusters import ClusterStore

    env = {**os.environ, "STIX_HOME": str(controller_home(home))}
    listing = subprocess.run(
        [sys.executable, "-m", "stix", "status"], env=env, capture_output=True, text=True
    )
    assert "gated-1" not in listing.stdout
    assert ClusterStore().get(sdk.controller_name()) is not None  # the controller stays


def test_a_replica_killed_mid_stream(home: Path, tmp_path: Path) -> None:
    import aiohttp  # noqa: F401  (the client below is urllib; aiohttp runs the replicas)

    task = service_yaml(tmp_path, "kill", service={"replicas": 2})
    endpoint = sdk.up(task, "kill")["endpoint"]
    service = poll(lambda: ready_count("kill", 2), 60, "two ready replicas")
    urls = {r["replica_id"]: r["url"] for r in service["replicas"]}

    # two streams, one per replica (least load sends the second to the idle replica)
    outcomes: dict[int, str] = {}
    started = threading.Barrier(3)

    def stream(slot: int) -> None:
        import urllib.request

        try:
            with urllib.request.urlopen(endpoint + "/stream?n=40&delay=0.1", timeout=20) as r:
                first = r.readline()
                outcomes[slot] = first.decode().split()[1]
                started.wait(10)
                r.read()
                outcomes[slot] += " complete"
        except Exception as exc:  # the cut stream
            outcomes[slot] = outcomes.get(slot, "?") + f" broken {type(exc).__name__}"

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    started.wait(20)
    victim = int(outcomes[0].split()[0])
    assert {outcomes[0].split()[0], outcomes[1].split()[0]} == {str(r) for r in urls}
    pid = int(get(urls[victim] + "/pid")[1])
    os.kill(pid, signal.SIGKILL)
    with Hammer(endpoint + "/", threads=2) as hammer:
        for thread in threads:
            thread.join(30)
        poll(lambda: len(hammer.results) >= 40, 30, "40 answers after the kill")
    assert "broken" in outcomes[0] and outcomes[1].endswith("complete"), outcomes
    assert not hammer.failures(), hammer.failures()[:3]  # retried on the live replica

    def replaced() -> object:
        service = ready_count("kill", 2)
        return (
            service if service and victim not in {r["replica_id"] for r in live(service)} else None
        )

    poll(replaced, 60, "the killed replica to be replaced")
    sdk.down(["kill"])


def test_scales_up_under_load_and_back_down(home: Path, tmp_path: Path) -> None:
    policy = {
        "min_replicas": 1,
        "max_replicas": 2,
        "target_qps_per_replica": 3,
        "upscale_delay_seconds": 2,
        "downscale_delay_seconds": 3,
    }
    task = service_yaml(tmp_path, "scale", service={"replicas": None, "replica_policy": policy})
    endpoint = sdk.up(task, "scale")["endpoint"]
    poll(lambda: ready_count("scale", 1), 60, "one ready replica")
    with Hammer(endpoint + "/", threads=2, pause=0.02) as hammer:
        poll(lambda: ready_count("scale", 2), 60, "a second replica under load")
    assert not hammer.failures(), hammer.failures()[:3]
    answered_by = {r[2].split()[-1] for r in hammer.results if r[1] == 200}
    assert len(answered_by) == 2  # both replicas served traffic
    poll(lambda: ready_count("scale", 1), 60, "scaling back to one replica when idle")
    sdk.down(["scale"])


def test_rolling_then_blue_green_update_with_zero_failed_requests(
    home: Path, tmp_path: Path
) -> None:
    endpoint = sdk.up(service_yaml(tmp_path, "roll", envs={"MESSAGE": "v1"}), "roll")["endpoint"]
    poll(lambda: ready_count("roll", 2), 60, "two ready replicas")
    with Hammer(endpoint + "/", threads=2) as hammer:
        poll(lambda: len(hammer.results) > 20, 20, "traffic before the update")
        update = sdk.update("roll", service_yaml(tmp_path, "roll", envs={"MESSAGE": "v2"}))
        assert update["version"] == 2
        poll(lambda: ready_count("roll", 2, version=2), 90, "two ready v2 replicas, no v1")
        mark = len(hammer.results)
        poll(lambda: len(hammer.results) > mark + 20, 20, "traffic after the rolling update")
        assert {r[2].split()[0] for r in hammer.results[mark:]} == {"v2"}

        sdk.update(
            "roll", service_yaml(tmp_path, "roll", envs={"MESSAGE": "v3"}), mode="blue_green"
        )
        poll(lambda: ready_count("roll", 2, version=3), 90, "two ready v3 replicas, no v2")
        mark = len(hammer.results)
        poll(lambda: len(hammer.results) > mark + 20, 20, "traffic after the blue-green update")
    assert not hammer.failures(), hammer.failures()[:3]
    answers = [r[2].split()[0] for r in hammer.results]
    assert answers[0] == "v1" and answers[-1] == "v3" and "v2" in answers
    sdk.down(["roll"])


def test_spot_replica_preempted_is_replaced_and_on_demand_keeps_serving(
    home: Path, tmp_path: Path
) -> None:
    """One spot and one on-demand replica; with dynamic fallback a spot replica that is
    not ready (at first, and after its preemption) has an on-demand stand-in."""
    policy = {
        "min_replicas": 2,
        "base_ondemand_fallback_replicas": 1,
        "dynamic_ondemand_fallback": True,
    }
    task = service_yaml(
        tmp_path,
        "spot",
        service={"replicas": None, "replica_policy": policy},
        resources={"use_spot": True},
    )
    endpoint = sdk.up(task, "spot")["endpoint"]
    most_ondemand = 0

    def settled() -> object:
        nonlocal most_ondemand
        service = one("spot")
        most_ondemand = max(most_ondemand, sum(not r["use_spot"] for r in live(service)))
        return ready_count("spot", 2)

    service = poll(settled, 90, "one spot and one on-demand replica ready")
    assert sorted(r["use_spot"] for r in live(service)) == [False, True]
    assert most_ondemand == 2  # the stand-in while the spot replica was coming up
    [spot] = [r for r in live(service) if r["use_spot"]]
    with Hammer(endpoint + "/", threads=2) as hammer:
        poll(lambda: len(hammer.results) > 10, 20, "traffic before the preemption")
        preempt = (
            "import sys\n"
            "from stix.state.clusters import ClusterStore\n"
            "from stix.clouds.local.provisioner import preempt\n"
            "record = ClusterStore().get(sys.argv[1])\n"
            "print(preempt(record.handle['cluster_name_on_cloud']))\n"
        )
        env = {**os.environ, "STIX_HOME": str(controller_home(home))}
        subprocess.run([sys.executable, "-c", preempt, spot["cluster"]], env=env, check=True)

        def replaced() -> object:
            service = settled()
            ids = {r["replica_id"] for r in live(service)} if service else {spot["replica_id"]}
            return service if service and spot["replica_id"] not in ids else None

        service = poll(replaced, 90, "the preempted spot replica to be replaced")
    assert sorted(r["use_spot"] for r in live(service)) == [False, True]
    assert not hammer.failures(), hammer.failures()[:3]
    sdk.down(["spot"])


def test_a_killed_controller_comes_back_and_keeps_its_replicas(home: Path, tmp_path: Path) -> None:
    """Over TLS: the endpoint is https, and the restarted controller serves it again."""
    import shutil
    import ssl

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl tool to make a certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    openssl = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subprocess.run(
        [*openssl, "-keyout", str(key), "-out", str(cert), "-subj", "/CN=stix-serve"],
        check=True,
        capture_output=True,
    )
    tls = {"keyfile": str(key), "certfile": str(cert)}
    task = service_yaml(tmp_path, "resume", service={"replicas": 1, "tls": tls})
    endpoint = sdk.up(task, "resume")["endpoint"]
    assert endpoint.startswith("https://")
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False  # the certificate is ours; the name is a loopback IP
    before = poll(lambda: ready_count("resume", 1), 60, "a ready replica")
    poll(lambda: get(endpoint + "/", context=context)[0] == 200, 30, "an answer over TLS")
    assert get(endpoint.replace("https", "http") + "/")[0] == 0  # no plain HTTP there
    lock = controller_home(home) / "serve" / "controller.lock"
    os.kill(int(lock.read_text()), signal.SIGKILL)
    poll(lambda: get(endpoint + "/", 2, context)[0] == 0, 20, "the endpoint to go with it")
    # the next serve command starts the controller again; it resumes from its database
    sdk.status(["resume"])
    poll(lambda: get(endpoint + "/", 2, context)[0] == 200, 60, "the endpoint to answer again")
    after = one("resume")
    assert after["status"] == "READY"
    assert [r["replica_id"] for r in after["replicas"]] == [before["replicas"][0]["replica_id"]]
    sdk.down(["resume"])


def test_cli_status_json_and_nothing_left_at_the_end(home: Path) -> None:
    listing = subprocess.run(
        [sys.executable, "-m", "stix", "serve", "status", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(listing.stdout) == []
    from stix import sdk as core

    core.down(sdk.controller_name())
    poll(lambda: not node_processes(home / "local"), 20, "controller processes to end")
