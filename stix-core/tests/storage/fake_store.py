"""A fake store plugin for tests: buckets are folders on this machine, ``fakefs://`` URLs.

It implements the :class:`stix.interfaces.Store` contract for real (files are
copied), so the core's storage path runs unchanged against it.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path
from typing import Any, ClassVar

from stix.hookspecs import hookimpl
from stix.interfaces import Store


class FakeDirStore(Store):
    """``fakefs://bucket/path`` served from ``FakeDirStore.root/bucket/path``."""

    name: ClassVar[str] = "fakefs"
    url_schemes: ClassVar[tuple[str, ...]] = ("fakefs://",)
    cloud: ClassVar[str] = "local"
    root: ClassVar[Path] = Path("/nonexistent")
    calls: ClassVar[list[str]] = []

    def exists(self, bucket: str) -> bool:
        return (self.root / bucket).is_dir()

    def create(self, bucket: str, region: str | None = None) -> None:
        self.calls.append(f"create {bucket}")
        (self.root / bucket).mkdir(parents=True, exist_ok=True)

    def upload(self, source: Path, bucket: str, prefix: str = "") -> None:
        self.calls.append(f"upload {Path(source).name} {bucket}/{prefix}")
        target = self.root / bucket / prefix
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / source.name)

    def delete(self, bucket: str) -> None:
        self.calls.append(f"delete {bucket}")
        shutil.rmtree(self.root / bucket, ignore_errors=True)

    def node_commands(self, url: str, dest: str, mode: str) -> str:
        path = self.root / url[len("fakefs://") :]
        target = '"$HOME"/' + shlex.quote(dest[2:]) if dest.startswith("~/") else shlex.quote(dest)
        if mode != "COPY":
            return f"echo 'stix: {mode} of {url} needs fakefuse on the node' >&2; exit 1"
        return f"set -e; mkdir -p {target}; cp -r {shlex.quote(str(path))}/. {target}/"


class FakePlugin:
    """The in-process plugin object that registers :class:`FakeDirStore`."""

    @hookimpl
    def register_stores(self, register: Any) -> None:
        register(FakeDirStore)
