"""SshRunner against real sshd nodes: commands, env, stdin, streaming, files, errors, host keys."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from harness.fixtures import stix_target as target_for
from stix.errors import ClusterError
from stix.runner import ssh_sync
from stix.runner.ssh import SshRunner
from stix.runner.ssh_conn import POOL
from stix.runner.ssh_fanout import run_on_nodes


@pytest.fixture
def runners(ssh_nodes, tmp_path: Path) -> list[SshRunner]:
    known = tmp_path / "known_hosts"
    out = [
        SshRunner(target_for(ssh_nodes, n, known), is_head=(n.index == 0), cluster="c1")
        for n in ssh_nodes.nodes
    ]
    yield out
    POOL.close_all()


def test_run_captures_output_env_and_stdin(runners: list[SshRunner]) -> None:
    r = runners[0]
    res = r.run(["cat"], input="hello\nworld\n")
    assert (res.returncode, res.stdout) == (0, "hello\nworld\n")
    res = r.run('echo "$A|$B"; pwd; echo err >&2; exit 3', env={"A": "x y", "B": "$(id)"})
    assert res.returncode == 3
    assert res.stdout.splitlines()[0] == "x y|$(id)"
    assert res.stdout.splitlines()[1].endswith("/home")
    assert res.stderr.strip() == "err"


def test_argv_items_and_tilde(runners: list[SshRunner], ssh_nodes) -> None:
    r = runners[0]
    res = r.run(["printf", "%s\n", "a b", "'q'", "$(touch /tmp/pwned)", "~/x"])
    home = str(ssh_nodes.nodes[0].home)
    assert res.stdout.splitlines() == ["a b", "'q'", "$(touch /tmp/pwned)", f"{home}/x"]


def test_connection_is_reused(runners: list[SshRunner]) -> None:
    r = runners[1]
    r.run("true")
    first = r.connection()
    r.run("true")
    assert r.connection() is first


def test_stream_gets_output_while_running(runners: list[SshRunner]) -> None:
    chunks: list[tuple[float, bytes]] = []
    res = runners[0].run(
        "echo one; sleep 0.5; echo two", stream=lambda c: chunks.append((time.monotonic(), c))
    )
    assert res.ok
    text = b"".join(c for _, c in chunks)
    assert text == b"one\ntwo\n"
    assert len(chunks) >= 2


def test_timeout_names_node_and_command(runners: list[SshRunner]) -> None:
    with pytest.raises(ClusterError, match=r"node node2: command timed out .*sleep 5"):
        runners[2].run(["sleep", "5"], timeout=0.5)
    assert runners[2].run("echo back").stdout == "back\n"


def test_fan_out_prefixes_every_node(runners: list[SshRunner]) -> None:
    out: list[bytes] = []
    results = run_on_nodes(runners, 'echo "hi from $(whoami)"', write=out.append)
    assert all(r.ok for r in results)
    lines = b"".join(out).decode().splitlines()
    assert sorted(lines) == sorted(f"({r.name}) hi from {r.target.user}" for r in runners)


def test_fan_out_failure_names_nodes(runners: list[SshRunner]) -> None:
    user = runners[1].target.user
    cmd = f'[ "$(whoami)" = "{user}" ] && echo broken >&2 && exit 7; true'
    with pytest.raises(ClusterError, match=r"failed on node1 \(exit 7: broken\)"):
        run_on_nodes(runners, cmd, write=None)


def test_put_and_sync_with_rsync(
    runners: list[SshRunner], ssh_nodes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ssh_sync, "INLINE_LIMIT", 0)  # large trees and files: rsync, SFTP
    src = tmp_path / "work dir"
    (src / "sub").mkdir(parents=True)
    (src / "a b.txt").write_text("A")
    (src / "sub" / "$(x).py").write_text("B")
    (src / "skip.log").write_text("no")
    r, node = runners[0], ssh_nodes.nodes[0]
    r.sync(src, "~/sky_workdir", excludes=["*.log"])
    dest = node.home / "sky_workdir"
    assert (dest / "a b.txt").read_text() == "A"
    assert (dest / "sub" / "$(x).py").read_text() == "B"
    assert not (dest / "skip.log").exists()
    (src / "a b.txt").unlink()
    r.sync(src, "~/sky_workdir")
    assert not (dest / "a b.txt").exists()
    exe = tmp_path / "tool.sh"
    exe.write_text("#!/bin/sh\necho tool\n")
    exe.chmod(0o755)
    r.put(exe, "~/bin/x/tool.sh")
    assert r.run(["~/bin/x/tool.sh"]).stdout == "tool\n"


def test_small_trees_and_files_go_inline_without_rsync(
    runners: list[SshRunner], ssh_nodes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_rsync(*args: object) -> None:
        raise AssertionError("a small folder must not start rsync")

    monkeypatch.setattr(ssh_sync, "_rsync", no_rsync)
    src = tmp_path / "w d"
    (src / "sub dir").mkdir(parents=True)
    (src / "sub dir" / "it's $(x).sh").write_text("#!/bin/sh\necho run\n")
    (src / "sub dir" / "it's $(x).sh").chmod(0o750)
    (src / "keep.txt").write_text("k")
    (src / "skip.log").write_text("no")
    r, node = runners[2], ssh_nodes.nodes[2]
    assert r.run("mkdir -p ~/'in line' && echo s > ~/'in line'/stale").ok
    r.sync(src, "~/in line", excludes=["*.log"])
    dest = node.home / "in line"
    assert (dest / "keep.txt").read_text() == "k"
    assert r.run(["~/in line/sub dir/it's $(x).sh"]).stdout == "run\n"
    assert not (dest / "stale").exists() and not (dest / "skip.log").exists()
    key = tmp_path / "secret key"
    key.write_text("s3cret")
    key.chmod(0o600)
    r.put(key, "~/a/b/secret key")
    placed = node.home / "a" / "b" / "secret key"
    assert placed.read_text() == "s3cret" and placed.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in placed.parent.iterdir()) == ["secret key"]


def test_sync_falls_back_to_tar_without_remote_rsync(
    runners: list[SshRunner], ssh_nodes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ssh_sync, "INLINE_LIMIT", 0)
    src = tmp_path / "w"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f 1").write_text("1")
    (src / "old.tmp").write_text("x")
    r, node = runners[1], ssh_nodes.nodes[1]
    r._has_rsync = False
    assert r.run("mkdir -p ~/target && echo s > ~/target/stale").ok
    r.sync(src, "~/target", excludes=["*.tmp"])
    assert (node.home / "target" / "d" / "f 1").read_text() == "1"
    assert not (node.home / "target" / "stale").exists()
    assert not (node.home / "target" / "old.tmp").exists()
    assert not list(node.home.glob(".stix_sync_*"))


def test_host_keys_go_to_the_cluster_file_and_changes_are_refused(
    ssh_nodes, tmp_path: Path
) -> None:
    node = ssh_nodes.nodes[3]
    known = tmp_path / "kh"
    r = SshRunner(target_for(ssh_nodes, node, known))
    assert r.run("true").ok
    entry = known.read_text().split()
    assert entry[0] in (node.ip, f"[{node.ip}]:{node.port}")
    assert entry[2] == (node.etc / "host_key.pub").read_text().split()[1]
    POOL.close_all()
    known.write_text(
        known.read_text().replace(
            entry[2], ssh_nodes.nodes[0].etc.joinpath("host_key.pub").read_text().split()[1]
        )
    )
    with pytest.raises(ClusterError, match="host key changed"):
        SshRunner(target_for(ssh_nodes, node, known)).run("true")


def test_refused_connection_is_retried_while_node_boots(ssh_nodes, tmp_path: Path) -> None:
    import threading

    node = ssh_nodes.nodes[3]
    ssh_nodes.stop_sshd(node)
    timer = threading.Timer(1.0, ssh_nodes.start_sshd, args=(node,))
    timer.start()
    try:
        r = SshRunner(target_for(ssh_nodes, node, tmp_path / "kh"), boot_timeout=20)
        assert r.run("echo up").stdout == "up\n"
    finally:
        timer.join()
        POOL.close_all()


def test_unreachable_node_error_says_why(ssh_nodes, tmp_path: Path) -> None:
    node = ssh_nodes.nodes[3]
    ssh_nodes.stop_sshd(node)
    r = SshRunner(target_for(ssh_nodes, node, tmp_path / "kh", name="w3"))
    with pytest.raises(ClusterError, match=r"node w3: cannot connect .*connection refused"):
        r.run("true")


def _live_transports() -> int:
    import threading

    import paramiko

    return sum(isinstance(t, paramiko.Transport) and t.is_alive() for t in threading.enumerate())


def test_jump_host_connections_close_with_the_node_connection(ssh_nodes, tmp_path: Path) -> None:
    bastion, node = ssh_nodes.nodes[1], ssh_nodes.nodes[2]
    jump = f"{bastion.user}@{bastion.ip}:{bastion.port}"
    POOL.close_all()
    before = _live_transports()
    runner = SshRunner(target_for(ssh_nodes, node, tmp_path / "kh", proxy_jump=jump))
    assert runner.run("hostname").ok
    gateway = runner.connection().gateway
    assert gateway.is_connected
    POOL.drop(runner.target)
    assert not gateway.is_connected
    # attempts that fail behind the jump host (node still booting) leave no connection open
    ssh_nodes.stop_sshd(node)
    booting = SshRunner(
        target_for(ssh_nodes, node, tmp_path / "kh", proxy_jump=jump), boot_timeout=1.5
    )
    with pytest.raises(ClusterError, match=node.name):
        booting.run("true")
    deadline = time.monotonic() + 5
    while _live_transports() > before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _live_transports() == before


def test_command_cut_mid_run_is_not_run_again(ssh_nodes, tmp_path: Path) -> None:
    import threading

    node = ssh_nodes.nodes[3]
    runner = SshRunner(target_for(ssh_nodes, node, tmp_path / "kh", name="w3"), boot_timeout=5)
    runner.run("rm -f ~/once.txt")
    log = node.home / "once.txt"

    def cut() -> None:
        deadline = time.monotonic() + 10
        while not log.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        ssh_nodes.stop_sshd(node)
        ssh_nodes.start_sshd(node)

    cutter = threading.Thread(target=cut)
    cutter.start()
    try:
        with pytest.raises(ClusterError, match=r"node w3: .*echo ran >> ~/once.txt"):
            runner.run("echo ran >> ~/once.txt; sleep 3")
    finally:
        cutter.join()
        POOL.close_all()
    assert log.read_text() == "ran\n"


def test_stale_connection_is_reopened_once(ssh_nodes, tmp_path: Path) -> None:
    node = ssh_nodes.nodes[3]
    runner = SshRunner(target_for(ssh_nodes, node, tmp_path / "kh", name="w3"))
    try:
        runner.run("rm -f ~/stale.txt")
        conn = runner.connection()
        # the reused connection looks open but can no longer open a session
        conn.transport.open_session = lambda *a, **k: (_ for _ in ()).throw(EOFError("stale"))
        assert runner.run("echo ran >> ~/stale.txt; echo ok").stdout == "ok\n"
        assert runner.connection() is not conn
    finally:
        POOL.close_all()
    assert (node.home / "stale.txt").read_text() == "ran\n"
