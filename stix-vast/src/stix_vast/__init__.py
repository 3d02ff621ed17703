"""Vast.ai for STIX: marketplace GPU offers, on-demand or interruptible bids, through the Vast.ai REST API.

The entry module is :mod:`stix_vast.hooks`; it does not import the HTTP client.
"""

__version__ = "0.1.0"
