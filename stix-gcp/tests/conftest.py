"""Fixtures for the GCP tests: the fake Compute API on loopback, ADC pointing at it, leak checks.

Code under test uses the real ``google-cloud-compute`` client over HTTP: ``gcp.endpoint``
sends it to :class:`gcp_fakes.FakeComputeApi`, and Application Default Credentials are
a service-account key file whose ``token_uri`` is the fake's token endpoint. After every
test no instance, firewall rule or harness node may be left.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from gcp_fakes import PROJECT, FakeComputeApi
from harness.fixtures import cloud, cloud_nodes

__all__ = ["cloud", "cloud_nodes"]


@pytest.fixture(autouse=True)
def _isolated_gcp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the real gcloud config or ADC, or asks a metadata server."""
    for key in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")  # nothing listens: no metadata server
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    from stix_gcp import session

    session.reset()


@pytest.fixture(scope="session")
def service_account_pem() -> str:
    """A throwaway RSA private key (PEM) for the fake service account."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def write_adc(path: Path, token_uri: str, pem: str) -> Path:
    """A service-account key file (what the console's "Create key" downloads), for ADC."""
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": PROJECT,
                "private_key_id": "fake-key-id",
                "private_key": pem,
                "client_email": f"stix-test@{PROJECT}.iam.gserviceaccount.com",
                "client_id": "1234567890",
                "token_uri": token_uri,
            }
        )
    )
    return path


@pytest.fixture
def gce(
    cloud: object,
    stix_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    service_account_pem: str,
) -> Iterator[FakeComputeApi]:
    """The fake Compute API with harness nodes, ADC and config pointing at it; leak-checked."""
    from stix_gcp import session

    with FakeComputeApi(cloud) as api:  # type: ignore[arg-type]
        adc = write_adc(tmp_path / "adc.json", f"{api.url}/token", service_account_pem)
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
        config = {
            "gcp": {
                "project_id": PROJECT,
                "endpoint": api.url,
                "ssh_user": cloud.user,  # type: ignore[attr-defined]
                "wait_seconds": 60,
            },
            "allowed_clouds": ["gcp"],
        }
        (stix_home / "config.yaml").write_text(yaml.safe_dump(config))
        session.reset()
        try:
            yield api
            left = api.leftovers()
            assert not left, f"GCP resources left behind: {left}"
        finally:
            for (zone, name), inst in list(api.instances.items()):
                cloud.release(inst["_node"])  # type: ignore[attr-defined]
                del api.instances[(zone, name)]
            session.reset()
