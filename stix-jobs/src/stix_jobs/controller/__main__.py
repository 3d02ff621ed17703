"""``python -m stix_jobs.controller``: run the controller until it has been idle a while.

It takes the controller lock first, so a second copy started by a racing client exits at
once. Exit code 0 means "idle, stopped on purpose"; anything else (a crash, SIGKILL) makes
the supervising shell loop on the controller cluster start it again.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import sys
import time

WAIT_FOR_LOCK_S = 30.0


def main() -> int:
    from stix_jobs import db

    home = db.jobs_home()
    home.mkdir(parents=True, exist_ok=True)
    lock = os.open(str(home / "controller.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.time() + WAIT_FOR_LOCK_S
    while True:  # an idle controller may be on its way out: wait for it a little
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            if time.time() > deadline:
                print("another controller is running", file=sys.stderr)
                return 0
            time.sleep(0.2)
    logging.basicConfig(
        filename=str(db.controller_log()),
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    from stix.config import load_config
    from stix.plugins import get_registry

    from stix_jobs.controller.loop import Controller
    from stix_jobs.controller.settings import Settings

    get_registry()  # load plugins once, before threads use them
    conn = db.connect()
    db.set_meta(conn, "pid", os.getpid())
    db.set_meta(conn, "started_at", time.time())
    controller = Controller(conn, Settings.from_config(load_config()))
    return asyncio.run(controller.run())


if __name__ == "__main__":
    sys.exit(main())
