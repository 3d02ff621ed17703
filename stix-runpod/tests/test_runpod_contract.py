"""The core's cloud contract suite, run against the runpod plugin, and its start-up cost."""

from __future__ import annotations

from stix.testing.contract import CloudContract


class TestRunpodContract(CloudContract):
    cloud_name = "runpod"
    entry_module = "stix_runpod.hooks"
    # No HTTP client may load with the entry module or its registration hooks:
    # the API client (stix.rest over urllib) is imported when a verb runs.
    sdk_modules = ("requests", "urllib3", "stix.rest")
