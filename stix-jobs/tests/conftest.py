"""Fixtures for the managed-jobs tests: a STIX home with fast controller timings, cleaned after.

Everything is real: the controller is a local-cloud cluster running the controller process
as a job, and every managed job gets real local sandbox clusters with their own agents.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from jobs_helpers import FAST, cleanup


@pytest.fixture
def jobs_home(stix_home: Path) -> Iterator[Path]:
    """A fresh ``$STIX_HOME`` whose config makes the controller poll every half second."""
    (stix_home / "config.yaml").write_text(yaml.safe_dump(FAST))
    try:
        yield stix_home
    finally:
        from stix_jobs.client import controller_home

        home = controller_home()
        if home is not None and (home / "jobs" / "controller.log").exists():
            print((home / "jobs" / "controller.log").read_text()[-5000:])
        cleanup()


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto's server on loopback for the whole session (boto3 talks real HTTP to it)."""
    pytest.importorskip("moto")
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch, stix_home: Path, tmp_path: Path) -> str:
    """Point boto3 at moto with fake credentials; nothing reads the real ~/.aws."""
    import os

    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    (stix_home / "config.yaml").write_text("allowed_clouds: [aws]\n")
    return moto_url
