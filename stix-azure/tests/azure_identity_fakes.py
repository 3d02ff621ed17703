"""The Azure tests' identity: a fake ``az`` CLI, its token, and the config helper.

Kept out of ``conftest.py`` so tests import it by a name no other distribution's tests use.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import yaml
from azure_fakes import SUBSCRIPTION, TENANT, TOKEN_HEADER

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


def write_config(stix_home: Path, **azure: Any) -> None:
    path = stix_home / "config.yaml"
    data = yaml.safe_load(path.read_text()) if path.exists() else {}
    data = data or {}
    data.setdefault("azure", {}).update(azure)
    path.write_text(yaml.safe_dump(data))
