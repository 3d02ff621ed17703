"""The ``local`` cloud: nodes are isolated sandboxes on this machine."""
