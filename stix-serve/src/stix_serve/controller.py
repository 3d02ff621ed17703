"""The serve controller process: ``python -m stix_serve.controller``.

It runs as a job on the controller cluster, one process for every service there (one
asyncio loop): each service gets a :class:`~stix_serve.manager.ServiceManager` with its
load balancer. Services come and go through the database (``stix_serve.remote`` writes
it); the process exits once no service has been left for ``idle_exit_seconds``, which
lets the controller cluster autostop. A file lock keeps it to one process per node.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import IO

from stix_serve.manager import ServiceManager
from stix_serve.settings import controller_settings
from stix_serve.store import ServeStore, serve_home

log = logging.getLogger("stix_serve.controller")


def lock_path() -> Path:
    return serve_home() / "controller.lock"


def take_lock() -> IO[str] | None:
    """The controller's lock, held for the life of the process; None if another holds it."""
    serve_home().mkdir(parents=True, exist_ok=True)
    handle = lock_path().open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def is_running() -> bool:
    """Whether a controller process holds the lock on this node."""
    if not lock_path().exists():
        return False
    with lock_path().open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


class Controller:
    """Starts a manager per service found in the database and reaps the finished ones."""

    def __init__(self) -> None:
        self.store = ServeStore()
        self.settings = controller_settings()
        self.managers: dict[str, asyncio.Task[None]] = {}
        self.stopping = asyncio.Event()

    async def run(self) -> None:
        idle_since: float | None = None
        while not self.stopping.is_set():
            names = [s["name"] for s in self.store.services()]
            for name in names:
                if name not in self.managers:
                    log.info("starting service %s", name)
                    manager = ServiceManager(name, self.store)
                    self.managers[name] = asyncio.create_task(self._run_one(manager))
            for name, task in list(self.managers.items()):
                if task.done():
                    del self.managers[name]
            if self.managers or names:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= self.settings.idle_exit_seconds:
                log.info("no services left; exiting")
                return
            try:
                await asyncio.wait_for(self.stopping.wait(), self.settings.tick_seconds)
            except asyncio.TimeoutError:
                pass
        # Stopped by a signal: leave replicas running; the next controller resumes them.
        for task in self.managers.values():
            task.cancel()
        await asyncio.gather(*self.managers.values(), return_exceptions=True)

    async def _run_one(self, manager: ServiceManager) -> None:
        try:
            await manager.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("service %s failed", manager.name)
            self.store.update_service(manager.name, status="CONTROLLER_FAILED")
            # wait for serve down to clear it before trying again
            while (row := self.store.service(manager.name)) is not None and not row[
                "down_requested"
            ]:
                await asyncio.sleep(1)
            if row is not None:
                self.store.remove_service(manager.name)


def main() -> int:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stdout,
        format="%(asctime)s %(name)s %(message)s",
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    lock = take_lock()
    if lock is None:
        print("a serve controller is already running on this node")
        return 0
    log.info("serve controller started (pid %s)", os.getpid())

    async def run() -> None:
        controller = Controller()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, controller.stopping.set)
        await controller.run()

    from stix_serve.balancer import run_loop

    run_loop(run())
    lock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
