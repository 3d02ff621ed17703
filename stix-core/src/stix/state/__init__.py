"""Client-side state under ``$STIX_HOME``: clusters, cluster history (cost report), job mirror.

One SQLite file (``state.db``) opened through sqlite-utils in WAL mode with a busy timeout,
with versioned migrations, so that many CLI processes can use it at once.
"""
