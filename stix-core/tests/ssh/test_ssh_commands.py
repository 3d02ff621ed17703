"""Remote command text: every argument and env value is quoted; ``~/`` stays the home."""

from __future__ import annotations

import shlex
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stix.errors import StixError
from stix.runner.ssh import head_argv, remote_command, ssh_argv
from stix.runner.ssh_conn import SshTarget


@given(st.lists(st.text(min_size=1).filter(lambda s: "\0" not in s), min_size=1, max_size=4))
def test_remote_command_round_trips_through_a_shell(args: list[str]) -> None:
    args = [a for a in args if not a.startswith("~")] or ["x"]
    text = remote_command(["printf", "%s\\0", *args])
    words = shlex.split(text)
    assert words[:2] == ["bash", "-c"]
    out = subprocess.run(words, capture_output=True).stdout
    assert out.split(b"\0")[:-1] == [a.encode() for a in args]


def test_bad_env_name_is_refused() -> None:
    with pytest.raises(StixError, match="not a valid environment variable name"):
        remote_command("true", env={"A B": "1"})


def test_ssh_argv_uses_cluster_known_hosts_never_global_no_checking() -> None:
    target = SshTarget(host="h", user="u", key="~/.k", known_hosts="/kh/c", proxy_jump="j@jump:2")
    argv = ssh_argv(target)
    assert "StrictHostKeyChecking=no" not in " ".join(argv)
    assert "UserKnownHostsFile=/kh/c" in argv and "StrictHostKeyChecking=accept-new" in argv
    assert any(a.startswith("ProxyCommand=ssh ") and "j@jump" in a for a in argv)
    assert argv[-1] == "u@h"
    assert head_argv(target)[:2] == ["bash", "-c"]
