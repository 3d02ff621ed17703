"""Fixtures for the AWS tests: moto's server on loopback, fake credentials, and a leak check.

Code under test talks real HTTP to moto through ``AWS_ENDPOINT_URL``; nothing
is patched. After each test that used AWS, no instance, security group (other
than ``default``) or key pair may be left, and moto is reset.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_fakes import SSH_KEY, FakeCapacityProxy, aws_client, leftovers, moto_server


@pytest.fixture(autouse=True)
def _isolated_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the real ~/.aws, asks the instance metadata service, or reaches AWS."""
    import os

    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:<port>`` of a moto server running for the whole session."""
    pytest.importorskip("moto")
    with moto_server() as url:
        yield url


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, stix_home: Path) -> Iterator[str]:
    """Point boto3 at moto with fake credentials; assert nothing is left afterwards."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    try:
        yield moto_endpoint
        left = leftovers(moto_endpoint)
        assert not left, f"AWS resources left behind: {json.dumps(left)}"
    finally:
        request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=30).read()


@pytest.fixture
def ec2(aws: str) -> Any:
    """A test-side EC2 client in us-east-1."""
    return aws_client(aws, "ec2")


@pytest.fixture
def ssh_public_key() -> str:
    """A syntactically valid OpenSSH public key (moto checks the format)."""
    return SSH_KEY


@pytest.fixture
def proxy(aws: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCapacityProxy]:
    """A proxy in front of moto's EC2 that fails chosen launches (set ``proxy.fail``)."""
    fake = FakeCapacityProxy(aws, {})
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", fake.url)
    yield fake
    fake.close()
