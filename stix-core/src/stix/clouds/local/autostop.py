"""What a local cluster's agent runs when autostop fires: ``stop`` or ``down`` through the SDK.

python -m stix.clouds.local.autostop CLUSTER --stix-home DIR stop|down
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stix-local-autostop")
    parser.add_argument("cluster")
    parser.add_argument("--stix-home", required=True)
    parser.add_argument("action", choices=["stop", "down"])
    args = parser.parse_args(argv)
    os.environ["STIX_HOME"] = args.stix_home
    from stix import sdk
    from stix.state.clusters import AUTOSTOPPING, ClusterStore

    ClusterStore().set_status(args.cluster, AUTOSTOPPING)
    if args.action == "down":
        sdk.down(args.cluster)
    else:
        sdk.stop(args.cluster)
    return 0


if __name__ == "__main__":
    sys.exit(main())
