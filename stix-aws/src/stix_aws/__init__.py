"""AWS for STIX: EC2 clusters (on-demand and spot), zone failover, S3 storage and the AWS catalog.

The entry module is :mod:`stix_aws.hooks`; it does not import boto3.
"""

__version__ = "0.1.0"
