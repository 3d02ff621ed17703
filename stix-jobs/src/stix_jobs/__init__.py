"""Managed jobs for STIX."""
