"""RunPod for STIX: GPU pods, on-demand or interruptible, through the RunPod GraphQL API.

The entry module is :mod:`stix_runpod.hooks`; it does not import the HTTP client.
"""

__version__ = "0.1.0"
