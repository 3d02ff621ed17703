"""The managed-jobs controller: one asyncio process holding every job, run on the controller cluster."""
