"""The core's cloud contract suite, run against the lambda plugin, and its start-up cost."""

from __future__ import annotations

from stix.testing.contract import CloudContract


class TestLambdaContract(CloudContract):
    cloud_name = "lambda"
    entry_module = "stix_lambda.hooks"
    # No HTTP client may load with the entry module or its registration hooks:
    # the API client (stix.rest over urllib) is imported when a verb runs.
    sdk_modules = ("requests", "urllib3", "stix.rest")
