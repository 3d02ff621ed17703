"""Lambda Cloud for STIX: on-demand GPU instances through the Lambda Cloud REST API v1.

The entry module is :mod:`stix_lambda.hooks`; it does not import the HTTP client.
"""

__version__ = "0.1.0"
