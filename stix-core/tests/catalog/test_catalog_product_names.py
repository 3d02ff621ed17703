"""``stix.catalog.accelerators.from_product_name``: providers' GPU names to catalog names."""

from __future__ import annotations

import pytest
from stix.catalog.accelerators import from_product_name


@pytest.mark.parametrize(
    ("product", "memory", "expected"),
    [
        ("NVIDIA GeForce RTX 4090", 24, "RTX4090"),
        ("RTX 4090", None, "RTX4090"),
        ("RTX A6000", 48, "A6000"),
        ("RTX_A6000", 48, "A6000"),
        ("A100 SXM4", 80, "A100-80GB"),
        ("A100 PCIE", 40, "A100"),
        ("NVIDIA A100 80GB PCIe", 80, "A100-80GB"),
        ("H100 NVL", 94, "H100"),
        ("H100 SXM", 80, "H100"),
        ("RTX 6000Ada", 48, "RTX6000-Ada"),
        ("RTX 6000 Ada", 48, "RTX6000-Ada"),
        ("Tesla V100", 16, "V100"),
        ("AMD Instinct MI300X OAM", 192, "MI300X"),
        ("L40S", 48, "L40S"),
    ],
)
def test_product_names(product: str, memory: float | None, expected: str) -> None:
    assert from_product_name(product, memory) == expected
