"""The ``ssh`` cloud: machines the user already has, grouped in pools (``ssh_node_pools.yaml``)."""
