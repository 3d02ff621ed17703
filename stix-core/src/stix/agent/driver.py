"""The job driver: runs one job's setup and run on every rank, writes logs and the final state.

The daemon forks one driver per started job. The driver lives in its own session; if it
dies without recording a terminal state the job becomes FAILED_DRIVER.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from . import contain, db, env, mergedlog, nodes, secrets, states, wake


def _exit_code(returncode: Optional[int]) -> int:
    if returncode is None:
        return 137
    return 128 - returncode if returncode < 0 else returncode


CHUNK = 65536


class _Logs:
    """Where a job's output goes: ``run.log`` for one node; for several, each rank's own
    file plus the order of arrival (:mod:`mergedlog`), so every byte is stored once.

    A single node's ``tasks/run.log`` (SkyPilot's path) is a link to ``run.log``.
    """

    def __init__(self, log_dir: str, multi: bool) -> None:
        os.makedirs(os.path.join(log_dir, "tasks"), exist_ok=True)
        self.log_dir = log_dir
        self.multi = multi
        self.lock = threading.Lock()
        self.merged = mergedlog.Writer(log_dir) if multi else None
        if not multi:
            self.run = open(os.path.join(log_dir, "run.log"), "ab", buffering=0)  # noqa: SIM115
            link = os.path.join(log_dir, "tasks", "run.log")
            if not os.path.lexists(link):
                os.symlink(os.path.join("..", "run.log"), link)

    def note(self, text: str) -> None:
        if self.merged is not None:
            self.merged.write(0, text.encode())
            return
        with self.lock:
            self.run.write(text.encode())

    def source(self, path: str, prefix: bytes) -> int:
        """Register a rank's file; the id :meth:`pump` is given for it (0 when one node)."""
        return self.merged.add_source(path, prefix) if self.merged is not None else 0

    def pump(self, stream: Any, source: int) -> None:
        # Pieces of at most CHUNK bytes: a line without an end never grows in memory.
        if self.merged is None:
            for piece in iter(lambda: stream.read1(CHUNK), b""):
                with self.lock:
                    self.run.write(piece)
            stream.close()
            return
        for piece in iter(lambda: stream.readline(CHUNK), b""):
            self.merged.write(source, piece)
        stream.close()


class Driver:
    """Runs one job to its end; see :func:`run_job`."""

    def __init__(self, home: str, job_id: int) -> None:
        self.home = home
        self.job_id = job_id
        self.conn = db.connect(home)
        self.cluster = nodes.load_cluster(home)
        row = db.job_row(self.conn, job_id)
        assert row is not None
        self.job = dict(row)
        self.spec: Dict[str, Any] = json.loads(row["spec"] or "{}")
        self.spec["secrets"] = secrets.load(home, job_id)
        self.all_nodes: List[Dict[str, Any]] = self.cluster["nodes"]
        alloc = json.loads(row["nodes"] or "[]")
        self.assigned: List[Tuple[int, List[Any]]] = [(a[0], a[1]) for a in alloc]
        self.procs: List[Tuple[Dict[str, Any], Any, str]] = []
        self.cancelled = False
        self.logs = _Logs(row["log_dir"], len(self.assigned) > 1)

    def _on_term(self, signum: int, frame: Any) -> None:
        self.cancelled = True
        self._kill_all()

    def _kill_all(self) -> None:
        for node, proc, key in self.procs:
            if proc.poll() is None:
                nodes.kill(node, proc.pid, key, signal.SIGTERM)
        deadline = time.time() + 3
        while time.time() < deadline and any(p.poll() is None for _, p, _ in self.procs):
            time.sleep(0.05)
        for node, proc, key in self.procs:
            nodes.kill(node, proc.pid, key, signal.SIGKILL)
        contain.kill_descendants(os.getpid())  # orphans that re-parented to this subreaper

    def _phase(self, script: str, envs: List[Dict[str, str]], kind: str) -> List[int]:
        """Run ``script`` on every assigned node at once; return the exit codes in rank order."""
        import subprocess

        self.procs = []
        pumps = []
        multi = len(self.assigned) > 1
        for rank, (index, _gpus) in enumerate(self.assigned):
            node = self.all_nodes[index]
            key = "%d-%s-%d" % (self.job_id, kind, rank)
            proc = nodes.popen(
                node,
                script,
                envs[rank],
                key,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            self.procs.append((node, proc, key))
            role = "head" if rank == 0 else "worker%d" % rank
            if kind == "setup":
                name = "setup-%d.log" % rank
            else:
                name = "%d-%s.log" % (rank, role) if multi else "run.log"
            prefix = "(%s, rank=%d, pid=%d, ip=%s) " % (role, rank, proc.pid, node["ip"])
            path = os.path.join(self.logs.log_dir, "tasks", name)
            source = self.logs.source(path, prefix.encode())
            thread = threading.Thread(
                target=self.logs.pump, args=(proc.stdout, source), daemon=True
            )
            thread.start()
            pumps.append(thread)
        groups = [[self.assigned[r][0], p.pid, k] for r, (_, p, k) in enumerate(self.procs)]
        self.conn.execute(
            "UPDATE jobs SET pgids = ? WHERE job_id = ?", (json.dumps(groups), self.job_id)
        )
        failed = False
        while True:
            codes = [p.poll() for _, p, _ in self.procs]
            if all(c is not None for c in codes):
                break
            if not failed and any(c not in (None, 0) for c in codes):
                failed = True  # one rank failed: stop the others
                self._kill_all()
            time.sleep(0.02)
        for thread in pumps:
            thread.join(timeout=5)
        return [_exit_code(p.returncode) for _, p, _ in self.procs]

    def run(self) -> str:
        """Run setup (if any) and the run script; record and return the final state."""
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        ips_all = [n["ip"] for n in self.all_nodes]
        ips_job = [self.all_nodes[i]["ip"] for i, _ in self.assigned]
        setup = self.spec.get("setup")
        if setup:
            envs = [
                env.setup_env(self.job, self.cluster, self.spec, self.assigned[r][0], ips_all)
                for r in range(len(self.assigned))
            ]
            codes = self._phase(setup, envs, "setup")
            if self.cancelled:
                return self._finish(states.CANCELLED, codes)
            if any(codes):
                self.logs.note("ERROR: setup failed with return code %s\n" % max(codes))
                return self._finish(states.FAILED_SETUP, codes)
        moved = db.set_status(
            self.conn,
            self.job_id,
            states.RUNNING,
            only_from=[states.SETTING_UP, states.PENDING, states.RUNNING],
            start_at=time.time(),
        )
        if not moved:  # cancelled while setting up
            return self._finish(states.CANCELLED, [])
        envs = [
            env.run_env(
                self.job,
                self.cluster,
                self.spec,
                rank,
                ips_job,
                gpu_ids,
                bool(self.all_nodes[index].get("gpu_ids")),
            )
            for rank, (index, gpu_ids) in enumerate(self.assigned)
        ]
        codes = self._phase(self.spec.get("run") or "true", envs, "run")
        if self.cancelled:
            return self._finish(states.CANCELLED, codes)
        if any(codes):
            self.logs.note("ERROR: job failed with return code list: %s\n" % codes)
            return self._finish(states.FAILED, codes)
        return self._finish(states.SUCCEEDED, codes)

    def _finish(self, status: str, codes: List[int]) -> str:
        db.set_status(self.conn, self.job_id, status, exit_codes=codes)
        for node, _proc, key in self.procs:
            group = nodes.local_group(node, key)
            if group:  # an empty leaf goes; one with a live background process stays
                try:
                    os.rmdir(group)
                except OSError:
                    pass
        secrets.forget(self.home, self.job_id)
        row = db.job_row(self.conn, self.job_id)
        wake.poke(self.home)
        return row["status"] if row is not None else status


def run_job(home: str, job_id: int) -> str:
    """Drive job ``job_id`` to a terminal state (called in the forked driver process)."""
    return Driver(home, job_id).run()
