"""``KubeRunner`` over the exec websocket: stdin, exit codes, files, on v5 and v4 servers."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from k8s_fakes import FakeKubeApi
from stix.errors import ClusterError
from stix_k8s.runner import KubeRunner


@pytest.fixture
def pod(kube: FakeKubeApi) -> Iterator[KubeRunner]:
    """A one-pod cluster; yields a runner for it."""
    from stix.interfaces import ProvisionConfig
    from stix.task import Resources
    from stix_k8s.provisioner import KubernetesProvisioner

    prov = KubernetesProvisioner()
    config = ProvisionConfig(
        cluster_name="r", cluster_name_on_cloud="r-1", count=1,
        resources=Resources.from_yaml_config({"cpus": 1}), region="fake",
    )  # fmt: skip
    prov.run_instances(config)
    try:
        prov.wait_instances("r-1", "fake", "UP")
        (runner,) = prov.get_command_runners(prov.get_cluster_info("r-1", "fake"))
        yield runner
    finally:
        prov.terminate_instances("r-1", "fake")


@pytest.mark.parametrize("protocol", ["v5.channel.k8s.io", "v4.channel.k8s.io"])
def test_stdin_exit_codes_and_files(
    kube: FakeKubeApi, pod: KubeRunner, tmp_path: Path, protocol: str
) -> None:
    kube.exec_protocols = (protocol,)
    result = pod.run("tr a-z A-Z; echo err >&2; exit 3", input="hello\n")
    assert (result.returncode, result.stdout, result.stderr) == (3, "HELLO\n", "err\n")
    home = pod.run("echo $HOME").stdout.strip()
    assert pod.run(["echo", "~/x y"]).stdout == f"{home}/x y\n"
    assert pod.run("echo $A", env={"A": "1 2"}).stdout == "1 2\n"
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 4096)  # 1 MiB, every byte value
    pod.put(blob, "~/in/blob.bin")
    assert (
        pod.run("md5sum < ~/in/blob.bin").stdout.split()[0]
        == hashlib.md5(blob.read_bytes()).hexdigest()
    )
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "a.txt").write_text("A")
    (src / "drop.tmp").write_text("no")
    pod.sync(src, "~/dst", excludes=["*.tmp"])
    assert pod.run("cd ~/dst && find . -type f | sort").stdout.split() == ["./sub/a.txt"]
    chunks: list[bytes] = []
    streamed = pod.run("for i in 1 2 3; do echo line$i; done", stream=chunks.append)
    assert streamed.ok and b"".join(chunks) == b"line1\nline2\nline3\n"


def test_exec_into_a_missing_pod_names_it(kube: FakeKubeApi) -> None:
    with pytest.raises(ClusterError, match="exec into pod nosuch failed"):
        KubeRunner("fake", "default", "nosuch", is_head=False).run("true")
