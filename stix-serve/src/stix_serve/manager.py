"""The replica manager of one service: keeps the wanted number of replicas of the
current version running, probes them, tells the load balancer which are ready, and
replaces, drains or removes them (scaling, updates, failures, preemption, ``serve down``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import aiohttp
import attrs

from stix_serve import replica_clusters, states
from stix_serve.autoscaler import Autoscaler, pick_for_removal, split_spot
from stix_serve.balancer import LoadBalancer, ssl_context
from stix_serve.settings import ServiceSettings, controller_settings
from stix_serve.store import ServeStore

# Launch attempts of one version that may fail before it ever got ready, before giving up.
MAX_VERSION_FAILURES = 3
KEEP_FAILED_ROWS = 10
# How long a failed replica's in-flight requests may finish before its cluster goes.
FAILED_DRAIN_SECONDS = 10.0


@attrs.define(eq=False)
class Replica:
    """What the manager knows of one replica while it runs."""

    rid: int
    version: int
    cluster: str
    use_spot: bool
    status: str
    url: str | None = None
    started_at: float | None = None
    ready_at: float | None = None
    failing_since: float | None = None
    stop: asyncio.Event = attrs.field(factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def stopping(self) -> bool:
        return self.stop.is_set()


class ServiceManager:
    """Runs one service inside the controller process (see :mod:`stix_serve.controller`)."""

    def __init__(self, name: str, store: ServeStore) -> None:
        self.name = name
        self.store = store
        self.log = logging.getLogger(f"stix_serve.service.{name}")
        self.tick = controller_settings().tick_seconds
        self.replicas: dict[int, Replica] = {}
        self.version = 0
        self.settings: ServiceSettings | None = None
        self.autoscaler: Autoscaler | None = None
        self.lb: LoadBalancer | None = None
        self.ready_versions: set[int] = set()
        self.launch_slots = asyncio.Semaphore(4)
        self.session: aiohttp.ClientSession | None = None
        self.cleanup_failed = False
        self.logs = store.root / "logs" / name
        self.logs.mkdir(parents=True, exist_ok=True)
        if not self.log.handlers:
            handler = logging.FileHandler(self.logs / "controller.log")
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
            self.log.addHandler(handler)
            self.log.setLevel(logging.INFO)

    # main loop ---------------------------------------------------------------

    async def run(self) -> None:
        """Serve until ``serve down`` asks this service to go; then remove everything."""
        row = self.store.service(self.name)
        assert row is not None
        self._load_version(int(row["version"]))
        assert self.settings is not None
        self.lb = LoadBalancer(
            self.settings.lb_policy,
            stream_timeout=self.settings.stream_timeout,
            access_log=self._file_logger("load_balancer"),
        )
        self.lb.rate.window_seconds = controller_settings().qps_window_seconds
        self.session = aiohttp.ClientSession()
        try:
            if await self._listen(row):
                self._resume()
                self._write_status()
                await self._serve()
            else:
                await self._wait_for_down()
        except BaseException:
            # Cancelled (the controller is stopping) or broken: replicas keep running and
            # the next controller process resumes them.
            await self._close()
            raise
        await self._shutdown()

    async def _listen(self, row: dict[str, Any]) -> bool:
        assert self.lb is not None
        context = None
        if row.get("tls"):
            import json

            files = json.loads(row["tls"])
            context = ssl_context(
                os.path.expanduser(files["certfile"]), os.path.expanduser(files["keyfile"])
            )
        try:
            await self.lb.start(row["lb_host"], int(row["lb_port"]), context)
        except OSError as exc:
            self.log.error("cannot listen on %s:%s: %s", row["lb_host"], row["lb_port"], exc)
            self.store.update_service(self.name, status=states.CONTROLLER_FAILED, message=str(exc))
            return False
        self.log.info("load balancer listening on %s", row["endpoint"])
        return True

    async def _close(self) -> None:
        if self.lb is not None:
            await self.lb.stop()
        if self.session is not None:
            await self.session.close()

    async def _wait_for_down(self) -> None:
        while True:
            row = self.store.service(self.name)
            if row is None or row["down_requested"]:
                return
            await asyncio.sleep(self.tick)

    async def _serve(self) -> None:
        interval = controller_settings().decision_interval_seconds
        next_decision = time.monotonic()
        while True:
            row = self.store.service(self.name)
            if row is None or row["down_requested"]:
                return
            if int(row["version"]) != self.version:
                self._load_version(int(row["version"]))
            mode = row.get("update_mode") or "rolling"
            now = time.monotonic()
            if now >= next_decision and self.autoscaler is not None and self.lb is not None:
                before = self.autoscaler.target
                self.autoscaler.decide(self.lb.rate.qps(time.time()))
                if self.autoscaler.target != before:
                    self.log.info("target replicas %s -> %s", before, self.autoscaler.target)
                next_decision = now + interval
            self._reconcile(mode)
            self._write_status()
            await asyncio.sleep(self.tick)

    def _load_version(self, version: int) -> None:
        spec = self.store.spec(self.name, version)
        settings = ServiceSettings.from_spec(spec)
        previous = self.autoscaler
        self.autoscaler = settings.autoscaler(controller_settings().decision_interval_seconds)
        if previous is not None:
            low = self.autoscaler.min_replicas
            high = self.autoscaler.max_replicas or low
            self.autoscaler.current = max(low, min(high, previous.current))
        if self.lb is not None and settings.lb_policy != (
            self.settings and self.settings.lb_policy
        ):
            from stix_serve.balancer import make_policy

            self.lb.policy = make_policy(settings.lb_policy)
            self._publish()
        self.settings, self.version = settings, version
        # failures of older versions say nothing about this one
        for replica in list(self.replicas.values()):
            if replica.status in states.TERMINAL and replica.version < version:
                self._forget(replica)
        self.log.info("serving version %s", version)

    # reconciliation ---------------------------------------------------------

    def _alive(self) -> list[Replica]:
        return [
            r for r in self.replicas.values() if r.status not in states.TERMINAL and not r.stopping
        ]

    def _gave_up(self) -> bool:
        if self.version in self.ready_versions:
            return False
        failures = [
            r
            for r in self.replicas.values()
            if r.version == self.version and r.status in states.USER_FAILURES
        ]
        return len(failures) >= MAX_VERSION_FAILURES

    def _reconcile(self, mode: str) -> None:
        assert self.autoscaler is not None and self.settings is not None
        target = self.autoscaler.target
        alive = self._alive()
        new = [r for r in alive if r.version == self.version]
        old = [r for r in alive if r.version != self.version]
        ready_spot = sum(1 for r in new if r.use_spot and r.status == states.READY)
        split = split_spot(
            target,
            use_spot=self.settings.use_spot,
            base_ondemand=self.settings.base_ondemand,
            dynamic_fallback=self.settings.dynamic_fallback,
            ready_spot=ready_spot,
        )
        launching_allowed = not self._gave_up()
        for spot, wanted in ((True, split.spot), (False, split.ondemand)):
            have = [r for r in new if r.use_spot == spot]
            if launching_allowed:
                for _ in range(wanted - len(have)):
                    self._start_replica(spot)
            if len(have) > wanted:
                self._remove(have, len(have) - wanted, "scale down")
        ready_new = sum(1 for r in new if r.status == states.READY)
        if mode == "blue_green":
            keep = len(old) if ready_new < max(1, min(target, self.settings.min_replicas)) else 0
        else:
            keep = max(0, target - ready_new)
        if len(old) > keep:
            self._remove(old, len(old) - keep, "update")

    def _remove(self, candidates: list[Replica], count: int, why: str) -> None:
        keyed = [(states.scale_down_key(r.status, r.version, r.rid), r.rid) for r in candidates]
        for rid in pick_for_removal(keyed, count):
            replica = self.replicas[rid]
            self.log.info("removing replica %s (%s, %s)", rid, replica.status, why)
            replica.stop.set()
            self._publish()

    def _start_replica(self, use_spot: bool) -> None:
        row = self.store.new_replica(self.name, self.version, use_spot)
        replica = Replica(
            rid=int(row["replica_id"]),
            version=self.version,
            cluster=row["cluster"],
            use_spot=use_spot,
            status=states.PENDING,
        )
        self.log.info("starting replica %s (version %s)", replica.rid, replica.version)
        self._spawn(replica)

    def _spawn(self, replica: Replica) -> None:
        self.replicas[replica.rid] = replica
        replica.task = asyncio.create_task(self._lifecycle(replica))

    def _resume(self) -> None:
        """Pick up the replicas a previous controller process left behind."""
        for row in self.store.replicas(self.name):
            replica = Replica(
                rid=int(row["replica_id"]),
                version=int(row["version"]),
                cluster=row["cluster"],
                use_spot=bool(row["use_spot"]),
                status=row["status"],
                url=row["url"],
                started_at=row["status_at"],
                ready_at=row["ready_at"],
            )
            if replica.ready_at:
                self.ready_versions.add(replica.version)
            if replica.status in states.TERMINAL:
                self.replicas[replica.rid] = replica
                continue
            if replica.status == states.SHUTTING_DOWN:
                replica.stop.set()
            self._spawn(replica)
        self._publish()  # replicas READY before the restart get traffic again at once

    def _forget(self, replica: Replica) -> None:
        self.replicas.pop(replica.rid, None)
        self.store.remove_replica(self.name, replica.rid)

    # one replica's life ----------------------------------------------------

    def _set(self, replica: Replica, status: str, **fields: Any) -> None:
        if replica.status != status:
            self.log.info("replica %s: %s -> %s", replica.rid, replica.status, status)
        replica.status = status
        self.store.update_replica(self.name, replica.rid, status=status, **fields)
        if status == states.READY:
            # recorded before the balancer sees it: whoever got an answer reads READY
            self._write_status()
        self._publish()

    async def _lifecycle(self, replica: Replica) -> None:
        try:
            end = await self._bring_up(replica)
            if end is None:
                end = await self._watch(replica)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one replica's trouble must not end the service
            self.log.exception("replica %s: unexpected error", replica.rid)
            self.store.update_replica(self.name, replica.rid, message=str(exc)[:500])
            end = states.FAILED
        await self._finish(replica, end)

    async def _bring_up(self, replica: Replica) -> str | None:
        """PENDING -> PROVISIONING -> STARTING; a failure state if it could not launch."""
        assert self.settings is not None
        if replica.stopping:
            return None
        if replica.status in (states.PENDING, states.PROVISIONING):
            async with self.launch_slots:
                if replica.stopping:
                    return None
                if replica.status == states.PROVISIONING:
                    # a launch cut short by a controller restart: start from a clean slate
                    await replica_clusters.teardown(replica.cluster, self._launch_log(replica))
                self._set(replica, states.PROVISIONING)
                task_file = self.store.task_path(self.name, replica.version)
                use_spot = replica.use_spot if self.settings.use_spot else None
                launching = asyncio.create_task(
                    replica_clusters.launch(
                        replica.cluster, task_file, replica.rid, use_spot, self._launch_log(replica)
                    )
                )
                stopped = asyncio.create_task(replica.stop.wait())
                await asyncio.wait({launching, stopped}, return_when=asyncio.FIRST_COMPLETED)
                stopped.cancel()
                if not launching.done():
                    launching.cancel()
                    await asyncio.gather(launching, return_exceptions=True)
                    return None
                if not launching.result():
                    return states.FAILED_PROVISION
        if replica.url is None:
            ip, infra = await asyncio.to_thread(replica_clusters.address, replica.cluster)
            replica.url = f"http://{ip}:{self.settings.port}"
            replica.started_at = time.time()
            self._set(replica, states.STARTING, url=replica.url, infra=infra)
        return None

    async def _watch(self, replica: Replica) -> str | None:
        """Probe until the replica is stopped (None) or fails (its end state)."""
        assert self.settings is not None
        probe = self.settings.probe
        check_every = controller_settings().replica_check_seconds
        last_check = time.monotonic()
        started = replica.started_at or time.time()
        while not replica.stopping:
            ok = await self._probe(replica)
            now = time.time()
            if ok:
                replica.failing_since = None
                if replica.status != states.READY:
                    replica.ready_at = replica.ready_at or now
                    self.ready_versions.add(replica.version)
                    self._set(replica, states.READY, ready_at=replica.ready_at)
            elif replica.status == states.READY:
                replica.failing_since = now
                self._set(replica, states.NOT_READY)
            elif replica.status == states.NOT_READY:
                if now - (replica.failing_since or now) > probe.failure_timeout:
                    return states.FAILED_PROBING
            elif now - started > probe.initial_delay:
                return states.FAILED_INITIAL_DELAY
            # A replica that stops answering after it was ready is checked at once (killed
            # or preempted?); one still starting only as often as its setup may fail.
            due = time.monotonic() - last_check > check_every
            if due or (not ok and replica.status == states.NOT_READY):
                last_check = time.monotonic()
                verdict = await asyncio.to_thread(replica_clusters.health, replica.cluster)
                if verdict is not None and ok:
                    # it still answers its probe: believe a bad verdict only when it repeats
                    await asyncio.sleep(1)
                    verdict = await asyncio.to_thread(replica_clusters.health, replica.cluster)
                if verdict is not None:
                    self.log.info("replica %s: %s", replica.rid, verdict[1])
                    self.store.update_replica(self.name, replica.rid, message=verdict[1])
                    return verdict[0]
            try:
                await asyncio.wait_for(replica.stop.wait(), probe.interval)
            except asyncio.TimeoutError:
                pass
        return None

    async def _probe(self, replica: Replica) -> bool:
        assert self.settings is not None and self.session is not None and replica.url
        probe = self.settings.probe
        try:
            async with self.session.request(
                "POST" if probe.post_data is not None else "GET",
                replica.url + probe.path,
                json=probe.post_data,
                headers=probe.headers,
                timeout=aiohttp.ClientTimeout(total=probe.timeout),
            ) as response:
                await response.read()
                return response.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            return False

    async def _finish(self, replica: Replica, end: str | None) -> None:
        """Drain (when stopped on purpose), tear the cluster down, then record the end."""
        assert self.settings is not None and self.lb is not None
        if end is None:
            self._set(replica, states.SHUTTING_DOWN)
            wait = self.settings.stream_timeout
        else:
            self._set(replica, end)
            wait = FAILED_DRAIN_SECONDS  # it may still be finishing answers
        deadline = time.monotonic() + wait
        while replica.url and self.lb.in_flight(replica.url) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        purge = bool((self.store.service(self.name) or {}).get("purge"))
        gone = await replica_clusters.teardown(replica.cluster, self._launch_log(replica), purge)
        if not gone:
            self.cleanup_failed = True
            self._set(replica, states.FAILED_CLEANUP)
            return
        if end is None or end == states.PREEMPTED:
            self._forget(replica)
        else:
            self._trim_failures()

    def _trim_failures(self) -> None:
        failed = sorted(
            (r for r in self.replicas.values() if r.status in states.TERMINAL),
            key=lambda r: r.rid,
        )
        for replica in failed[:-KEEP_FAILED_ROWS]:
            self._forget(replica)

    # load balancer and status -------------------------------------------------

    def _publish(self) -> None:
        if self.lb is None:
            return
        ready = [
            r.url
            for r in self.replicas.values()
            if r.status == states.READY and not r.stopping and r.url
        ]
        self.lb.set_ready(ready)

    def _write_status(self) -> None:
        status = states.service_status(r.status for r in self.replicas.values())
        if status == states.SERVICE_FAILED and not self._gave_up() and self._alive():
            status = states.REPLICA_INIT  # a replacement is on its way
        message = "version keeps failing; see stix serve logs" if self._gave_up() else None
        self.store.update_service(self.name, status=status, message=message)

    async def _shutdown(self) -> None:
        self.store.update_service(self.name, status=states.SERVICE_SHUTTING_DOWN)
        for replica in self.replicas.values():
            replica.stop.set()
        tasks = [r.task for r in self.replicas.values() if r.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        # failed replicas' clusters were already removed when they failed
        await self._close()
        row = self.store.service(self.name) or {}
        if self.cleanup_failed and not row.get("purge"):
            self.store.update_service(self.name, status=states.SERVICE_FAILED_CLEANUP)
        else:
            self.store.remove_service(self.name)
        self.log.info("service removed")

    # logs ---------------------------------------------------------------------

    def _launch_log(self, replica: Replica) -> Any:
        return self.logs / f"replica-{replica.rid}.launch.log"

    def _file_logger(self, kind: str) -> logging.Logger:
        logger = logging.getLogger(f"stix_serve.{kind}.{self.name}")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        if not logger.handlers:
            handler = logging.FileHandler(self.logs / f"{kind}.log")
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
            logger.addHandler(handler)
        return logger
