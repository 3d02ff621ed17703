"""Run by examples/workdir_setup.yaml from the synced workdir."""

import os

print(f"{os.environ['GREETING']} from node rank {os.environ['SKYPILOT_NODE_RANK']}")
print("working directory:", os.getcwd())
