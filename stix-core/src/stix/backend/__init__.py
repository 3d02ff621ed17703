"""The cluster backend: runtime setup on nodes, workdir/file sync, job submission, log streaming."""
