"""Azurite (the Azure Storage emulator from npm) on loopback for the Blob store tests.

Found as ``azurite-blob`` on ``PATH`` or at ``$STIX_AZURITE`` (the ``.ci/run`` script
installs it with npm); tests skip with the reason when it is absent. Started with
``--disableTelemetry``, in a temporary workspace, on a free port, with the emulator's documented
development account ``devstoreaccount1``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

ACCOUNT = "devstoreaccount1"
# The emulator's fixed, public development key (documented with Azurite), not a secret.
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def azurite_binary() -> str | None:
    given = os.environ.get("STIX_AZURITE")
    if given and os.access(given, os.X_OK):
        return given
    return shutil.which("azurite-blob")


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextmanager
def azurite(host: str = "127.0.0.1") -> Iterator[str]:
    """Run Azurite's Blob service; yields its connection string."""
    binary = azurite_binary()
    if binary is None:
        raise FileNotFoundError("azurite-blob not found (npm install -g azurite)")
    port = _free_port(host)
    with tempfile.TemporaryDirectory(prefix="stix-azurite-") as workspace:
        proc = subprocess.Popen(
            [
                binary,
                "--blobHost",
                host,
                "--blobPort",
                str(port),
                "--location",
                workspace,
                "--disableTelemetry",
                "--silent",
                "--skipApiVersionCheck",
                "--loose",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection((host, port), timeout=1).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        err = proc.stderr.read().decode() if proc.stderr else ""
                        raise RuntimeError(f"azurite did not start: {err[-500:]}") from None
                    time.sleep(0.2)
            yield (
                f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
                f"BlobEndpoint=http://{host}:{port}/{ACCOUNT};"
            )
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


__all__ = ["ACCOUNT", "KEY", "azurite", "azurite_binary"]
