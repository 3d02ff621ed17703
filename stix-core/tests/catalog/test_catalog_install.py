"""Installing a catalog folder: concurrent imports, failed moves and leftovers of killed runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from catalog_testkit import DATA
from stix.catalog import files
from stix.errors import CatalogError

_LOOP = """
import sys
from stix.cli import main
for _ in range(int(sys.argv[1])):
    main(["catalog", "import", "--format", "skypilot", "--cloud", "gcp", sys.argv[2]])
"""


def _rows(folder: Path) -> int:
    return len((folder / "vms.csv").read_text().splitlines())


def test_two_concurrent_imports_of_one_cloud_both_succeed(stix_home: Path) -> None:
    env = {**os.environ, "STIX_HOME": str(stix_home)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _LOOP, "12", str(DATA / "gcp")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=60) for p in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert out.count("gcp\t12 rows") == 12
    dest = stix_home / "catalogs" / "gcp"
    assert (dest / "vms.csv").read_bytes() == (DATA / "gcp" / "vms.csv").read_bytes()
    assert (dest / "meta.json").is_file()
    leftovers = [p.name for p in (stix_home / "catalogs").iterdir() if p.name.startswith(".gcp.")]
    assert leftovers == [".gcp.lock"]
    assert set(files.installed()) == {"gcp"}


def _break_moves(monkeypatch: pytest.MonkeyPatch, how: str, error: OSError) -> None:
    """Make moving the new ``gcp`` folder into place fail, in either install path."""
    if how == "exchange":

        def exchange(first: Path, second: Path) -> bool:
            raise error

        monkeypatch.setattr(files, "_exchange", exchange)
        return
    real_rename = os.rename

    def rename(src: object, dst: object) -> None:
        if Path(str(src)).name.startswith(".gcp.new-"):
            raise error
        real_rename(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(files, "_exchange", lambda first, second: False)
    monkeypatch.setattr(os, "rename", rename)


@pytest.mark.parametrize("how", ["exchange", "two-renames"])
def test_failed_move_keeps_the_old_catalog(
    stix_home: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    files.import_skypilot(DATA / "gcp", "gcp")
    dest = stix_home / "catalogs" / "gcp"
    before = (dest / "vms.csv").read_bytes()
    _break_moves(monkeypatch, how, OSError(28, "No space left on device"))
    with pytest.raises(CatalogError) as err:
        files.import_skypilot(DATA / "alpha", "gcp")
    assert "\n" not in err.value.message
    assert "No space left on device" in err.value.message
    assert (dest / "vms.csv").read_bytes() == before
    names = sorted(p.name for p in (stix_home / "catalogs").iterdir())
    assert [n for n in names if n.startswith(".gcp.") and n != ".gcp.lock"] == []


def test_exchange_swaps_two_folders_in_one_step(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "mark").write_text("first")
    (second / "mark").write_text("second")
    if not files._exchange(first, second):
        pytest.skip("no renameat2 exchange on this system")
    assert (first / "mark").read_text() == "second"
    assert (second / "mark").read_text() == "first"


def test_cli_reports_a_failed_install_in_one_line(
    stix_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from stix.cli import main

    files.import_skypilot(DATA / "gcp", "gcp")
    capsys.readouterr()
    _break_moves(monkeypatch, "two-renames", PermissionError(13, "Permission denied"))
    with pytest.raises(SystemExit) as exit_:
        main(["catalog", "import", "--format", "skypilot", "--cloud", "gcp", str(DATA / "alpha")])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    first = err.splitlines()[0]
    assert first.startswith("Error: catalog for 'gcp': could not install")
    assert "unexpected" not in err and "Permission denied" in first
    assert _rows(stix_home / "catalogs" / "gcp") == 13


def test_stale_temp_folders_are_cleaned_fresh_ones_kept(stix_home: Path) -> None:
    files.import_skypilot(DATA / "gcp", "gcp")
    root = stix_home / "catalogs"
    old = root / ".gcp.old-dead1"
    new = root / ".gcp.new-dead2"
    busy = root / ".gcp.new-busy3"
    other = root / ".alpha.new-dead4"
    for folder in (old, new, busy, other):
        folder.mkdir()
        (folder / "vms.csv").write_text("x\n")
    past = time.time() - 3600
    for folder in (old, new, other):
        os.utime(folder / "vms.csv", (past, past))
        os.utime(folder, (past, past))
    files.import_skypilot(DATA / "gcp", "gcp")
    assert not old.exists() and not new.exists()
    assert busy.exists() and other.exists()
    assert set(files.installed()) == {"gcp"}
