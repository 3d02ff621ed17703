"""``~/.ssh/config`` gets exactly one Include line; cluster files come and go with clusters."""

from __future__ import annotations

from pathlib import Path

import pytest
from stix.runner.ssh import SshRunner
from stix.runner.ssh_conn import SshTarget


@pytest.fixture
def home(stix_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    user_home = tmp_path / "user home"
    user_home.mkdir()
    monkeypatch.setenv("HOME", str(user_home))
    return user_home


def _runners(n: int) -> list[SshRunner]:
    return [
        SshRunner(SshTarget(host=f"10.1.0.{i}", user="me", key="/k k", known_hosts="/kh"))
        for i in range(n)
    ]


def test_include_added_once_and_user_content_kept(home: Path) -> None:
    from stix import sshconfig

    config = home / ".ssh" / "config"
    config.parent.mkdir()
    original = "Host mine\n  HostName example.invalid\n"
    config.write_text(original)
    sshconfig.add_cluster("c1", _runners(3))
    sshconfig.add_cluster("c2", _runners(1))
    sshconfig.add_cluster("c1", _runners(3))
    text = config.read_text()
    assert text.count("Include ") == 1
    assert text.startswith(sshconfig.include_line() + "\n")
    assert text.endswith(original)
    body = sshconfig.cluster_file("c1").read_text()
    assert "Host c1\n" in body and "Host c1-worker2\n" in body
    assert 'IdentityFile "/k k"' in body and "HostName 10.1.0.2" in body
    sshconfig.remove_cluster("c1")
    assert not sshconfig.cluster_file("c1").exists()
    assert sshconfig.cluster_file("c2").exists()
    assert config.read_text() == text


def test_missing_config_is_created_private(home: Path) -> None:
    from stix import sshconfig

    sshconfig.add_cluster("solo", _runners(1))
    config = home / ".ssh" / "config"
    assert config.read_text() == sshconfig.include_line() + "\n"
    assert config.stat().st_mode & 0o777 == 0o600


def test_unsafe_alias_is_not_written(home: Path) -> None:
    from stix import sshconfig

    assert sshconfig.add_cluster("bad name", _runners(1)) is None
    assert not (home / ".ssh" / "config").exists()


def test_runners_with_their_own_host_block_get_entries(home: Path) -> None:
    """A runner that is not SSH (a pod) may still be logged into through its own entry."""
    from stix.sshconfig import add_for_runners, cluster_file

    class PodRunner:
        def __init__(self, pod: str) -> None:
            self.pod = pod

        def ssh_host_block(self, alias: str) -> str:
            return f"Host {alias}\n  ProxyCommand tunnel {self.pod}\n"

    path = add_for_runners("pc", [PodRunner("pc-0"), PodRunner("pc-1")])
    assert path == cluster_file("pc")
    text = path.read_text()
    assert "Host pc\n  ProxyCommand tunnel pc-0" in text
    assert "Host pc-worker1\n  ProxyCommand tunnel pc-1" in text
    assert add_for_runners("other", [PodRunner("x"), object()]) is None
