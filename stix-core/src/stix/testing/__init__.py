"""Test helpers for STIX and for plugin authors.

Opt in from a ``conftest.py``::

    pytest_plugins = ["stix.testing"]

Fixtures: ``stix_home`` (a temporary ``$STIX_HOME``), ``plugin_registry`` (a
fresh registry with the installed plugins, installed as the process-wide one),
``register_plugin`` (add an in-process plugin for one test), ``cli`` (run the
``stix`` CLI in process with stdout and stderr kept apart). The reusable cloud
contract suite is :class:`stix.testing.contract.CloudContract`; helpers that run
the CLI in a subprocess for end-to-end tests are in :mod:`stix.testing.e2e`.
"""

from __future__ import annotations

from stix.testing.fixtures import cli, plugin_registry, register_plugin, stix_home

__all__ = ["cli", "plugin_registry", "register_plugin", "stix_home"]
