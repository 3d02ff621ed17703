"""Fixtures for the Azure tests: a fake ARM server over HTTPS, a fake ``az`` CLI, a leak check.

The code under test runs its real clients: ``DefaultAzureCredential`` (limited by the
documented ``AZURE_TOKEN_CREDENTIALS`` switch to its Azure CLI step) gets its token
from a fake ``az`` on ``PATH``, and the ``azure-mgmt-*`` clients talk HTTPS to
``FakeArmApi``, whose VMs are harness sshd nodes. After each test no resource group
may be left and no harness node held.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from azure_fakes import SUBSCRIPTION, TENANT, TOKEN_HEADER, FakeArmApi
from harness.fixtures import cloud, cloud_nodes

__all__ = ["cloud", "cloud_nodes"]

USER = "alice@contoso.example"


def fake_token(claims: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{TOKEN_HEADER}.{body}.c2ln"


TOKEN = fake_token({"upn": USER, "tid": TENANT, "aud": "https://management.azure.com"})


def write_fake_az(folder: Path, token: str = TOKEN, fail: str | None = None) -> Path:
    """A fake ``az`` CLI answering ``az account get-access-token`` as the real one does."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "az"
    answer = {
        "accessToken": token,
        "expiresOn": "2099-01-01 00:00:00.000000",
        "expires_on": 4070908800,
        "subscription": SUBSCRIPTION,
        "tenant": TENANT,
        "tokenType": "Bearer",
    }
    if fail:
        body = f"import sys\nsys.stderr.write({fail!r} + '\\n')\nsys.exit(1)\n"
    else:
        body = f"import json\nprint(json.dumps({answer!r}))\n"
    script.write_text(f"#!{sys.executable}\n{body}")
    script.chmod(0o755)
    return script


@pytest.fixture(autouse=True)
def _isolated_azure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the real ~/.azure, asks a metadata service, or reaches Azure."""
    from stix_azure import credentials

    for key in list(os.environ):
        if key.startswith(("AZURE_", "MSI_", "IDENTITY_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / "azure-cli"))
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    credentials.reset()
    yield
    credentials.reset()


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    """The folder put first on ``PATH`` for this test (the fake ``az`` goes there)."""
    return tmp_path / "fake-bin"


@pytest.fixture(scope="session")
def arm_api(cloud_nodes: Any) -> Iterator[FakeArmApi]:
    sizes = {
        "Standard_D2s_v5": {"vCPUs": 2, "MemoryGB": 8},
        "Standard_NC4as_T4_v3": {
            "vCPUs": 4,
            "MemoryGB": 28,
            "GPUs": 1,
            "family": "Standard NCASv3_T4 Family",
        },
    }
    with FakeArmApi(cloud_nodes, TOKEN, sizes) as api:
        yield api


def write_config(stix_home: Path, **azure: Any) -> None:
    path = stix_home / "config.yaml"
    data = yaml.safe_load(path.read_text()) if path.exists() else {}
    data = data or {}
    data.setdefault("azure", {}).update(azure)
    path.write_text(yaml.safe_dump(data))


@pytest.fixture
def arm(
    arm_api: FakeArmApi,
    cloud: Any,
    stix_home: Path,
    fake_bin: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[FakeArmApi]:
    """The fake ARM API configured as the user's Azure; no resource group may be left after."""
    write_fake_az(fake_bin)
    write_config(
        stix_home,
        resource_manager_endpoint=arm_api.url,
        subscription_id=SUBSCRIPTION,
        ssh_user=cloud.user,
        poll_seconds=0.2,
        wait_seconds=120,
    )
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(arm_api.ca_file))
    try:
        yield arm_api
        assert not arm_api.errors, arm_api.errors[-1]
        left = arm_api.group_names()
        assert not left, f"resource groups left behind: {left}"
    finally:
        arm_api.errors.clear()
        arm_api.reset()
        cloud.reset()


@pytest.fixture(scope="session")
def azurite_connection() -> Iterator[str]:
    """Connection string of an Azurite Blob service for the session (skips when absent)."""
    from azure_azurite import azurite, azurite_binary

    if azurite_binary() is None:
        pytest.skip("azurite-blob is not installed (npm install -g azurite, or set STIX_AZURITE)")
    with azurite() as connection:
        yield connection


@pytest.fixture
def blob(
    azurite_connection: str, stix_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """The Blob store signed in to Azurite; every container is deleted afterwards."""
    from azure.storage.blob import BlobServiceClient
    from stix_azure.store import BlobStore

    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_connection)
    yield BlobStore()
    service = BlobServiceClient.from_connection_string(azurite_connection)
    for item in service.list_containers():
        service.delete_container(item.name)


@pytest.fixture(scope="session")
def bridge_azurite(cloud_nodes: Any) -> Iterator[str]:
    """Azurite on the harness bridge's host address, so that harness nodes reach it."""
    from azure_azurite import azurite, azurite_binary

    if azurite_binary() is None:
        pytest.skip("azurite-blob is not installed (npm install -g azurite, or set STIX_AZURITE)")
    with azurite(host=f"10.213.{cloud_nodes.slot}.1") as connection:
        yield connection
