"""The core's cloud contract suite, run against the vast plugin, and its start-up cost."""

from __future__ import annotations

from stix.testing.contract import CloudContract


class TestVastContract(CloudContract):
    cloud_name = "vast"
    entry_module = "stix_vast.hooks"
    # No HTTP client may load with the entry module or its registration hooks:
    # the API client (stix.rest over urllib) is imported when a verb runs.
    sdk_modules = ("requests", "urllib3", "stix.rest")
