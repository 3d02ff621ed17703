"""The core's cloud contract suite, run against the aws plugin."""

from __future__ import annotations

from stix.testing.contract import CloudContract


class TestAwsContract(CloudContract):
    cloud_name = "aws"
    entry_module = "stix_aws.hooks"
    sdk_modules = ("boto3", "botocore", "s3transfer")
