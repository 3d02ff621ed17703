"""Clouds built into the core: ``local`` (this machine) and, later, ``ssh`` (node pools)."""
