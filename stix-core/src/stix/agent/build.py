"""Build the agent as one runnable zipapp (``python3 agent.pyz <subcommand>``)."""

from __future__ import annotations

import hashlib
import os
import threading
import zipfile
from pathlib import Path

_MAIN = "import sys\nfrom stix_agent.cli import main\nsys.exit(main())\n"


def _sources() -> list[Path]:
    here = Path(__file__).resolve().parent
    return sorted(p for p in here.glob("*.py") if p.name not in ("__main__.py", "build.py"))


def fingerprint() -> str:
    """A short hash of the agent's sources (changes whenever the agent changes)."""
    digest = hashlib.sha256()
    for path in _sources():
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def build_zipapp(dest: Path | str) -> Path:
    """Write the agent zipapp to ``dest`` (atomically) and return the path."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # per process and thread: a controller launches many clusters at once from threads
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("__main__.py", "#!/usr/bin/env python3\n" + _MAIN)
        for path in _sources():
            zf.writestr("stix_agent/" + path.name, path.read_bytes())
    os.chmod(tmp, 0o755)
    os.replace(tmp, dest)
    return dest


def cached_zipapp(cache_dir: Path | str) -> Path:
    """The zipapp for the current sources under ``cache_dir``, built on first use."""
    dest = Path(cache_dir) / ("agent-%s.pyz" % fingerprint())
    if not dest.exists():
        build_zipapp(dest)
    return dest
