"""Fixtures for the serve tests."""

from __future__ import annotations

pytest_plugins = ["stix.testing"]
