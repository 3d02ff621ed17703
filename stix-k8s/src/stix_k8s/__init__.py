"""Kubernetes for STIX."""
