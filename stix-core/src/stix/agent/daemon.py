"""The head node's daemon: schedules pending jobs, forks their drivers, reaps them, runs autostop.

Only one daemon runs per agent home (an exclusive ``flock``); starting another is a no-op.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import subprocess
import sys
import time
import traceback
from typing import Any, Dict, List, Optional

from . import contain, db, driver, nodes, procs, scheduler, secrets, states, wake

TICK = 1.0


def _log(home: str, text: str) -> None:
    with open(os.path.join(home, "daemon.log"), "a") as fh:
        fh.write("%s %s\n" % (time.strftime("%Y-%m-%d %H:%M:%S"), text))


def idle_since(conn: Any) -> Optional[float]:
    """When the cluster became idle, or None while a job is pending or running."""
    marks = ",".join("?" for _ in states.NON_TERMINAL)
    busy = conn.execute(
        "SELECT 1 FROM jobs WHERE status IN (%s) LIMIT 1" % marks, states.NON_TERMINAL
    ).fetchone()
    if busy:
        return None
    last = conn.execute("SELECT MAX(submitted_at), MAX(end_at) FROM jobs").fetchone()
    stamps = [x for x in (last[0], last[1]) if x is not None]
    autostop = db.get_config(conn, "autostop") or {}
    stamps.append(autostop.get("set_at") or 0.0)
    stamps.append(db.get_config(conn, "daemon_started_at") or 0.0)
    return max(stamps)


def autostop_due(conn: Any, now: Optional[float] = None) -> Optional[Dict[str, Any]]:
    """The autostop setting when it should fire now, else None."""
    autostop = db.get_config(conn, "autostop") or {}
    seconds = autostop.get("idle_seconds", -1)
    if seconds is None or seconds < 0 or db.get_config(conn, "autostop_fired"):
        return None
    since = idle_since(conn)
    if since is None:
        return None
    return autostop if (now or time.time()) - since >= seconds else None


def autostop_env(cluster: Dict[str, Any], secret: Dict[str, Any]) -> Dict[str, str]:
    """What the autostop command learns of its cluster, and the secrets its cloud gave it."""
    env = {str(k): str(v) for k, v in secret.items()}
    env["STIX_CLUSTER_NAME_ON_CLOUD"] = str(cluster.get("cluster_name_on_cloud") or "")
    env["STIX_INSTANCE_IDS"] = ",".join(str(i) for i in cluster.get("instance_ids") or [])
    return env


class Daemon:
    """The scheduling and autostop loop of one agent home."""

    def __init__(self, home: str) -> None:
        self.home = home
        self.conn = db.connect(home)
        self.cluster = nodes.load_cluster(home)
        self.children: List[int] = []
        self.keep_fds: List[int] = []

    def _start_driver(self, job_id: int) -> None:
        pid = os.fork()
        if pid == 0:  # the driver
            code = 1
            try:
                os.setsid()
                contain.become_subreaper()  # a rank's orphans stay the driver's to kill
                for fd in self.keep_fds:
                    os.close(fd)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                conn = db.connect(self.home)
                conn.execute(
                    "UPDATE jobs SET driver_pid = ?, driver_start = ? WHERE job_id = ?",
                    (os.getpid(), procs.start_time(os.getpid()), job_id),
                )
                conn.close()
                driver.run_job(self.home, job_id)
                code = 0
            except BaseException:
                try:
                    _log(
                        self.home,
                        "driver of job %d crashed:\n%s" % (job_id, traceback.format_exc()),
                    )
                except BaseException:
                    pass
            finally:
                os._exit(code)
        self.children.append(pid)

    def _reap(self) -> None:
        for pid in list(self.children):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self.children.remove(pid)
        while True:  # orphans re-parented to this subreaper
            try:
                done, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if not done:
                break
            if done in self.children:
                self.children.remove(done)

    def _autostop(self) -> bool:
        setting = autostop_due(self.conn)
        if setting is None:
            return False
        down = bool(setting.get("down"))
        db.set_config(self.conn, "autostop_fired", {"at": time.time(), "down": down})
        commands = self.cluster.get("autostop_commands") or {}
        argv = commands.get("down" if down else "stop")
        _log(self.home, "autostop fired (down=%s): %.200s" % (down, argv))
        if argv:
            env = {k: v for k, v in os.environ.items() if not k.startswith("STIX_NODE_")}
            env.update(autostop_env(self.cluster, secrets.load(self.home, secrets.AUTOSTOP)))
            if __package__ == "stix_agent":  # the zipapp: its scripts import stix_agent.*
                env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            # Out of the node's cgroup: stopping the node must not end the stopper.
            root = contain.base()
            outside = os.path.join(root, "autostop") if root else None
            with open(os.path.join(self.home, "autostop.log"), "ab") as out:
                subprocess.Popen(
                    contain.wrap(outside, argv),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    start_new_session=True,
                    cwd="/",
                )
        return True

    def loop(self, once: bool = False) -> None:
        """Run until killed (or one round when ``once``)."""
        fifo = wake.open_reader(self.home)
        self.keep_fds.append(fifo)
        db.set_config(self.conn, "daemon_started_at", time.time())
        db.set_config(self.conn, "autostop_fired", None)
        signal.signal(signal.SIGCHLD, lambda *_: wake.poke(self.home))
        while True:
            try:
                self._reap()
                scheduler.check_drivers(self.conn, self.cluster)
                scheduler.schedule_step(self.conn, self.cluster, self._start_driver)
                self._autostop()
                secrets.purge(self.home, self.conn)
            except Exception:
                _log(self.home, "daemon step failed:\n%s" % traceback.format_exc())
            if once:
                return
            try:
                ready, _, _ = select.select([fifo], [], [], TICK)
            except InterruptedError:
                ready = []
            if ready:
                wake.drain(fifo)


def lock_or_exit(home: str) -> int:
    """Take the daemon lock of ``home``; exit quietly when another daemon holds it."""
    os.makedirs(home, exist_ok=True)
    fd = os.open(os.path.join(home, "daemon.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        sys.exit(0)
    with open(os.path.join(home, "daemon.pid"), "w") as fh:
        fh.write(str(os.getpid()))
    return fd


def daemon_pid(home: str) -> Optional[int]:
    """The pid of the running daemon of ``home``, or None."""
    fd = os.open(os.path.join(home, "daemon.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                with open(os.path.join(home, "daemon.pid")) as fh:
                    return int(fh.read().strip() or 0) or None
            except (OSError, ValueError):
                return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def run(home: str) -> None:
    """Entry point of the ``daemon`` subcommand (foreground)."""
    lock = lock_or_exit(home)
    contain.join(contain.group(contain.identity(), "agent"))
    contain.become_subreaper()  # orphans of finished drivers re-parent here, not to init
    daemon = Daemon(home)
    daemon.keep_fds.append(lock)
    daemon.loop()


def spawn(home: str, agent_argv: List[str]) -> Optional[int]:
    """Start the daemon in the background (a new session) unless it already runs."""
    pid = daemon_pid(home)
    if pid:
        return pid
    environ = dict(os.environ)
    if environ.get("STIX_SANDBOX_ENV") == "basics":  # a local sandbox: no client environment
        from .env import node_basics

        environ = node_basics(environ)
    with open(os.path.join(home, "daemon.log"), "ab") as out:
        proc = subprocess.Popen(
            [*agent_argv, "daemon"],
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
    for _ in range(200):
        pid = daemon_pid(home)
        if pid:
            return pid
        if proc.poll() is not None:
            return daemon_pid(home)
        time.sleep(0.01)
    return proc.pid
