"""Shared fixtures (the stix.testing ones)."""

from stix.testing.fixtures import plugin_registry, register_plugin, stix_home  # noqa: F401
