"""Buckets in tasks: bucket ``file_mounts``, storage objects, their state table and lifecycle.

The core resolves each bucket mount to a registered :class:`stix.interfaces.Store`,
creates and fills buckets, records them, and runs the store's node commands.
"""
