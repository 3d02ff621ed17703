"""The shared pieces of store plugins: upload keys and node shell snippets, run in real bash."""

from __future__ import annotations

import subprocess
from pathlib import Path

from stix.storage.transfer import GET_FUNCTION, fail_line, quote_path, subshell, upload_pairs


def test_upload_pairs_of_a_file_and_a_folder(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_text("a")
    (tmp_path / "d" / "sub" / "b.txt").write_text("b")
    assert [k for _, k in upload_pairs(tmp_path / "d")] == ["a.txt", "sub/b.txt"]
    assert [k for _, k in upload_pairs(tmp_path / "d", "/run1/")] == [
        "run1/a.txt",
        "run1/sub/b.txt",
    ]
    assert upload_pairs(tmp_path / "d" / "a.txt", "x") == [(tmp_path / "d" / "a.txt", "x/a.txt")]


def test_shell_pieces_in_bash(tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("payload")
    script = subshell(
        [
            "set -e",
            GET_FUNCTION,
            f"mkdir -p {quote_path('~/out dir')}",
            f"_stix_get file://{source} {quote_path('~/out dir/got.txt')}",
            fail_line("it's done", "nothing to fix"),
        ]
    )
    done = subprocess.run(
        ["bash", "-s"], input=script, capture_output=True, text=True,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip() == "stix: it's done; nothing to fix"
    assert (tmp_path / "out dir" / "got.txt").read_text() == "payload"
