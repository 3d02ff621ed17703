"""``stix check gcp`` names the identity and project, or what is missing and how to fix it;
Compute Engine errors map to the failover categories."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gcp_fakes import PROJECT, FakeComputeApi


def test_check_names_the_service_account_and_project(gce: FakeComputeApi) -> None:
    from stix_gcp.credentials import check

    result = check()
    assert result.ok, result.detail
    assert f"service account stix-test@{PROJECT}.iam.gserviceaccount.com" in result.detail
    assert f"project {PROJECT}" in result.detail


def test_check_without_credentials_says_how_to_log_in(stix_home: Path, cli: Any) -> None:
    from stix_gcp.credentials import check

    result = check()
    assert not result.ok
    assert result.hint and "gcloud auth application-default login" in result.hint
    shown = cli("check", "gcp")
    assert "gcloud auth application-default login" in shown.stdout + shown.stderr


def test_check_reports_a_permission_error(gce: FakeComputeApi) -> None:
    from stix_gcp.credentials import check

    gce.forbidden = True
    result = check()
    assert not result.ok and "permission denied" in result.detail
    assert result.hint and "roles/compute.admin" in result.hint


@pytest.mark.parametrize(
    ("codes", "message", "kind", "scope"),
    [
        (["ZONE_RESOURCE_POOL_EXHAUSTED"], "The zone does not have enough resources", "NoCapacityError", "zone"),
        (["ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS"], "'(resource type:nvidia-l4)'", "NoCapacityError", "zone"),
        (["UNSUPPORTED_OPERATION"], "Spot VMs are not supported for g2 in this zone", "NoCapacityError", "zone"),
        (["QUOTA_EXCEEDED"], "Quota 'NVIDIA_L4_GPUS' exceeded.  Limit: 0.0 in region us-east4.", "QuotaError", "region"),
        (["QUOTA_EXCEEDED"], "Quota 'GPUS_ALL_REGIONS' exceeded.  Limit: 0.0 globally.", "QuotaError", "cloud"),
        (["forbidden"], "Required 'compute.instances.create' permission", "CredentialsError", "cloud"),
        (["invalid"], "Machine type with name 'x' does not exist in zone 'us-east4-a'.", "NoCapacityError", "zone"),
        (["RESOURCE_EXHAUSTED"], "There is no more capacity in the zone", "NoCapacityError", "zone"),
    ],
)  # fmt: skip
def test_error_codes_map_to_failover_scopes(
    codes: list[str], message: str, kind: str, scope: str
) -> None:
    from stix_gcp.errors import decide

    error = decide(codes, message, "g2-standard-4 in us-east4-a")
    assert type(error).__name__ == kind and error.scope == scope
    assert error.message.startswith("gcp: g2-standard-4 in us-east4-a: ")
    assert "\n" not in error.message
