"""A per-rank child subreaper: every process a rank starts stays in its tree until killed.

Each rank runs as ``reaper.py run STATE KEY -- ARGV...``. The process started there
(the *front*) forks the *reaper*, which sets ``PR_SET_CHILD_SUBREAPER``, leaves the
rank's process group and runs ``ARGV``. Whatever the rank forks re-parents to the reaper
when its parent exits, even after ``setsid``, double forks, ``nohup`` or a cleared
environment, so the reaper's descendants are exactly the rank's processes. The front
exits with the rank's status as soon as ``ARGV`` ends (the job's state does not wait for
its orphans); the reaper stays while any descendant lives, and its pid and start time
are in ``STATE/KEY`` (and its argv carries :data:`MARK`), so ``kill`` and a node's
teardown can always find it and end its whole tree.

This file runs standalone (``python3 -c <this source>``) on nodes without the agent:
stdlib only, no package imports.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Dict, List, Optional, Tuple

MARK = "stix-reaper"  # in every reaper's argv (how teardown finds reapers with no file)
GRACE_S = 5.0  # after a forwarded SIGTERM, what is still alive gets SIGKILL


def become_subreaper() -> bool:
    """Make orphaned descendants re-parent to this process (Linux prctl); True on success."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _stat(pid: int) -> Optional[List[str]]:
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return fh.read().rsplit(")", 1)[-1].split()
    except OSError:
        return None


def start_time(pid: int) -> Optional[str]:
    """The kernel start time of ``pid`` (a token), or None when it does not exist."""
    fields = _stat(pid)
    return fields[19] if fields and len(fields) > 19 else None


def running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    fields = _stat(pid)
    return bool(fields) and fields[0] not in ("Z", "X")  # type: ignore[index]


def tree(root: int) -> Dict[int, str]:
    """Every live descendant of ``root``, with its kernel start time (from ``/proc``)."""
    children: Dict[int, List[Tuple[int, str]]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return {}
    for name in entries:
        if not name.isdigit():
            continue
        fields = _stat(int(name))
        if not fields or len(fields) < 20 or fields[0] in ("Z", "X"):
            continue
        try:
            children.setdefault(int(fields[1]), []).append((int(name), fields[19]))
        except ValueError:
            continue
    out: Dict[int, str] = {}
    todo = [root]
    while todo:
        for child, started in children.get(todo.pop(), []):
            out[child] = started
            todo.append(child)
    return out


def send(pid: int, started: Optional[str], sig: int) -> None:
    """Signal ``pid`` only while it is the process that started at ``started``.

    With pidfds (Linux 5.3+) the check and the signal address one process, so a pid
    reused in between is never hit; elsewhere the start time is checked just before.
    """
    opener = getattr(os, "pidfd_open", None)
    sender = getattr(signal, "pidfd_send_signal", None)
    fd = None
    try:
        if opener is not None and sender is not None:
            fd = opener(pid)
        if started is not None and start_time(pid) != started:
            return
        if fd is not None and sender is not None:
            sender(fd, sig)
        else:
            os.kill(pid, sig)
    except OSError:
        pass
    finally:
        if fd is not None:
            os.close(fd)


def kill_descendants(root: int, sig: int = signal.SIGKILL, rounds: int = 50) -> None:
    """Signal every descendant of ``root`` until none is left (new forks are caught too)."""
    for _ in range(rounds):
        found = tree(root)
        if not found:
            return
        for pid, started in found.items():
            send(pid, started, sig)
        if sig != signal.SIGKILL:
            return
        time.sleep(0.02)


def _record(state: str, key: str) -> Optional[Tuple[int, str]]:
    try:
        with open(os.path.join(state, key)) as fh:
            pid_text, started = fh.read().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    return (pid, started) if start_time(pid) == started else None


def kill(state: str, key: str, sig: int) -> None:
    """Signal the rank ``key``: SIGKILL ends the reaper's whole tree, then the reaper.

    Another signal goes to the reaper, which passes it on to every descendant (and
    SIGKILLs what is left :data:`GRACE_S` later).
    """
    found = _record(state, key)
    if found is not None:
        end(found[0], found[1], sig)


def end(pid: int, started: str, sig: int) -> None:
    """Signal the reaper ``pid`` (started at ``started``) as :func:`kill` does."""
    if sig != signal.SIGKILL:
        send(pid, started, sig)
        return
    for _ in range(100):  # the reaper lives on meanwhile, so orphans cannot slip away
        kill_descendants(pid)
        if not tree(pid):
            break
    send(pid, started, signal.SIGKILL)


def sweep(state: str) -> None:
    """SIGKILL every reaper of this user (by file under ``state`` or by argv) and its tree."""
    found: Dict[int, str] = {}
    try:
        names = os.listdir(state)
    except OSError:
        names = []
    for name in names:
        got = _record(state, name)
        if got is not None:
            found[got[0]] = got[1]
    uid, me = os.getuid(), os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            if os.stat("/proc/" + name).st_uid != uid:
                continue
            with open("/proc/%s/cmdline" % name, "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        if MARK.encode() in argv[:6]:
            started = start_time(int(name))
            if started is not None:
                found[int(name)] = started
    for pid, started in found.items():
        end(pid, started, signal.SIGKILL)


def _status(raw: int) -> int:
    if os.WIFSIGNALED(raw):
        return 128 + os.WTERMSIG(raw)
    return os.WEXITSTATUS(raw) if os.WIFEXITED(raw) else 1


def _reap(state: str, key: str, argv: List[str], report: int) -> None:
    """The reaper: run ``argv``, report its status on ``report``, stay for its orphans."""
    become_subreaper()
    group = os.getpgid(0)
    try:
        os.setpgid(0, 0)  # a signal to the rank's group does not end the reaper
    except OSError:
        pass
    path = os.path.join(state, key)
    try:
        os.makedirs(state, exist_ok=True)
        with open(path + ".tmp", "w") as fh:
            fh.write("%d %s\n" % (os.getpid(), start_time(os.getpid())))
        os.replace(path + ".tmp", path)
    except OSError:
        pass

    def on_signal(sig: int, frame: object) -> None:
        kill_descendants(os.getpid(), sig)
        signal.alarm(int(GRACE_S))

    def on_alarm(sig: int, frame: object) -> None:
        kill_descendants(os.getpid())

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    signal.signal(signal.SIGALRM, on_alarm)
    rank = os.fork()
    if rank == 0:
        os.close(report)
        try:
            os.setpgid(0, group)  # the rank itself stays in the front's group
        except OSError:
            pass
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        try:
            os.execvp(argv[0], argv)
        except OSError as exc:
            sys.stderr.write("stix: cannot run %s: %s\n" % (argv[0], exc))
        os._exit(127)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the rank's output pipe ends when the rank's processes close it
        os.dup2(null, fd)
    while True:
        try:
            pid, raw = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if pid == rank and report >= 0:
            try:
                os.write(report, b"%d" % _status(raw))
                os.close(report)
            except OSError:
                pass
            report = -1
    try:
        os.unlink(path)
    except OSError:
        pass


def run(state: str, key: str, argv: List[str]) -> int:
    """Run the rank ``argv`` under a reaper; return its exit status (128+N for signal N)."""
    try:
        os.setsid()  # the rank's session: under sshd this process may not lead one yet
    except OSError:
        pass
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # the reaper passes signals on and reports
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read_end)
        try:
            _reap(state, key, argv, write_end)
        finally:
            os._exit(0)
    os.close(write_end)
    data = b""
    while True:
        piece = os.read(read_end, 16)
        if not piece:
            break
        data += piece
    try:
        os.waitpid(child, os.WNOHANG)
    except ChildProcessError:
        pass
    return int(data) if data.strip().isdigit() else 137


def main(args: List[str]) -> int:
    """``run STATE KEY -- ARGV...`` | ``kill STATE KEY SIG`` | ``sweep STATE``."""
    if args and args[0] == MARK:
        args = args[1:]
    if len(args) >= 4 and args[0] == "run" and args[3] == "--":
        return run(os.path.expanduser(args[1]), args[2], args[4:])
    if len(args) == 4 and args[0] == "kill":
        kill(os.path.expanduser(args[1]), args[2], int(args[3]))
        return 0
    if len(args) == 2 and args[0] == "sweep":
        sweep(os.path.expanduser(args[1]))
        return 0
    sys.stderr.write("usage: reaper.py run STATE KEY -- ARGV | kill STATE KEY SIG | sweep STATE\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
