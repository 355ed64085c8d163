"""The DEA on NATS: subjects in, instances and messages out (releases/cf/README.md).

Listens to ``dea.discover``, ``staging.<id>.start``, ``dea.<id>.start``, ``dea.stop``,
``dea.find.droplet``, ``dea.update``, ``dea.locate`` and ``router.start``; publishes
``dea.advertise`` (every advertise_interval), ``dea.heartbeat`` (every
heartbeat_interval), ``router.register`` (on RUNNING, then every
router_register_interval or as router.start asks) and ``router.unregister``,
``droplet.exited``, and ``dea.shutdown`` when it starts to evacuate (:meth:`Dea.evacuate`).
nats-py runs one subscription's handlers one after another, so
anything that waits (the discover delay, staging, stopping) runs as its own task.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from nats.aio.msg import Msg

from ..component import Component, StatusServer, announce_again, start_component
from ..mbus import Bus
from ..messages import validated
from . import cgroups, discover, protocol, staging, telemetry
from .config import DeaConfig
from .evacuation import DONE, EVACUATING, EvacuationFiles
from .instance import ROUTED_STATES, Instance, State
from .lifecycle import InstanceManager

log = logging.getLogger(__name__)

STAGING_CONCURRENCY = 2
STAGING_QUEUE_LIMIT = 16      # stagings waiting or running; more are refused at once
ROUTER_START_MIN_GAP = 1.0     # seconds between re-registrations caused by router.start
EVACUATION_CHECK_INTERVAL = 0.2   # seconds between "is everything gone elsewhere yet?" checks
#: while evacuating, instances in these states keep the DEA from being done
NOT_YET_EVACUATED = (State.BORN, State.STARTING, State.RUNNING, State.EVACUATING)


@dataclass
class Dea:
    config: DeaConfig
    bus: Bus | None = None
    register_interval: float = field(init=False)     # router.start may change it
    cgroups_enabled: bool = field(init=False, default=False)
    manager: InstanceManager | None = field(init=False, default=None)   # made by prepare_host
    _tasks: set[asyncio.Task] = field(default_factory=set)
    _staging: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(STAGING_CONCURRENCY))
    _last_router_start: float = field(default=float("-inf"))
    _staging_queued: int = 0
    evacuating_since: float | None = None     # time.time() when evacuate() began
    shutting_down: bool = False               # shutdown() began: no new instance may start
    logs: telemetry.LogPump | None = None     # app lines to the log server (config.log_server)
    component: Component | None = None        # CF v1's status port (config.status)
    status_server: StatusServer | None = None
    stagings_done: int = 0
    stagings_failed: int = 0

    def __post_init__(self) -> None:
        self.register_interval = self.config.router_register_interval

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def evacuation_files(self) -> EvacuationFiles:
        return EvacuationFiles(self.config.base_dir)

    # --- setting up -------------------------------------------------------------------------

    def prepare_host(self) -> None:
        """Start clean: containers of a previous DEA process died with it (PDEATHSIG), but their
        cgroups, files and staging leftovers may remain."""
        config = self.config
        for leftover in cgroups.leftovers(config.cgroup_root, config.cgroup_parent):
            log.info("removing leftover cgroup %s", leftover.name)
            try:
                leftover.destroy()
            except cgroups.CgroupError as error:
                log.error("%s", error)
        for directory in (config.instances_dir, config.staging_dir):
            shutil.rmtree(directory, ignore_errors=True)
        config.base_dir.mkdir(parents=True, exist_ok=True)
        config.base_dir.chmod(0o700)
        for directory in (config.instances_dir, config.staging_dir, config.droplets_dir):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.evacuation_files.clear()
        self.evacuation_files.write_pid(os.getpid())
        problem = cgroups.usable(config.cgroup_root, config.cgroup_parent)
        if problem is not None:
            if config.require_cgroups:
                raise RuntimeError(f"cgroups are required but unusable: {problem}")
            log.warning("memory and process limits will NOT be enforced: %s (on a bosh-py VM, give the "
                        "DEA's vm_type cloud_properties {cgroups: true})", problem)
        self.cgroups_enabled = problem is None
        self.manager = InstanceManager(config, self, self.cgroups_enabled)

    async def connect(self) -> None:
        if self.bus is None:
            self.bus = await Bus.connect(self.config.nats.servers, self.config.nats.user,
                                         self.config.nats.password, name=f"dea-{self.id}",
                                         on_reconnect=self._reconnected)

    async def _reconnected(self) -> None:
        await self.register_all_routes()
        if self.component is not None and self.status_server is not None and self.bus is not None:
            await announce_again(self.bus, self.component)

    async def start_telemetry(self) -> None:
        """The log pump and the status port, when configured (both optional)."""
        config = self.config
        if config.log_server is not None:
            self.logs = telemetry.LogPump(config.log_server)
        if config.status is not None and self.bus is not None:
            self.component = Component("DEA", config.index, config.ip, config.status)
            self.status_server = await start_component(self.bus, self.component, lambda: telemetry.varz(self),
                                                       self.unhealthy, realm="dea")

    def unhealthy(self) -> str | None:
        if self.bus is None or not self.bus.client.is_connected:
            return "NATS is not connected"
        return "evacuating" if self.evacuating_since is not None else None

    async def pump_logs(self) -> None:
        if self.logs is not None and self.manager is not None:
            await self.logs.poll(list(self.manager.registry))

    async def subscribe(self) -> None:
        """Every subject, each message checked by protocol.parse_* first: a malformed one is
        logged and dropped (cf_platform.messages.validated) before a handler sees it."""
        assert self.bus is not None
        subscriptions: dict[str, tuple[Callable[[Any], dict], Callable[[dict, Msg], Awaitable[None]]]] = {
            "dea.discover": (protocol.parse_discover, self.on_discover),
            f"staging.{self.id}.start": (protocol.parse_staging, self.on_staging_start),
            f"dea.{self.id}.start": (protocol.parse_start, self.on_start),
            "dea.stop": (lambda p: protocol.parse_selection(p, "dea.stop"), self.on_stop),
            "dea.find.droplet": (lambda p: protocol.parse_selection(p, "dea.find.droplet"),
                                 self.on_find_droplet),
            "dea.update": (protocol.parse_update, self.on_update),
            "dea.locate": (lambda p: protocol.parse_any_object(p, "dea.locate"), self.on_locate),
            "router.start": (protocol.parse_router_start, self.on_router_start),
        }
        for subject, (parse, handler) in subscriptions.items():
            await self.bus.subscribe(subject, validated(subject, parse, handler))
        await self.bus.client.flush()

    def spawn(self, coroutine: Awaitable[Any]) -> asyncio.Task:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set, then stop every instance (DEA_SHUTDOWN) and leave."""
        self.prepare_host()
        await self.connect()
        await self.subscribe()
        await self.start_telemetry()
        log.info("DEA %s up on %s (memory %d MB, cgroups %s)", self.id, self.config.ip, self.config.memory_mb,
                 "enforced" if self.cgroups_enabled else "not available")
        timers = [self.spawn(self._every(lambda: self.config.advertise_interval, self.advertise)),
                  self.spawn(self._every(lambda: self.config.heartbeat_interval, self.heartbeat)),
                  self.spawn(self._every(lambda: self.register_interval, self.register_all_routes, first=False)),
                  self.spawn(self._every(lambda: 5.0, self.reap, first=False))]
        if self.logs is not None:
            timers.append(self.spawn(self._every(lambda: self.config.log_poll_interval, self.pump_logs)))
        try:
            await stop.wait()
        finally:
            for timer in timers:
                timer.cancel()
            await self.shutdown()

    async def shutdown(self) -> None:
        """Stop every instance; a start that arrives meanwhile (the HM replacing the very
        instances being stopped) is refused, or it would outlive the DEA."""
        assert self.manager is not None
        self.shutting_down = True
        await self.manager.stop_all(protocol.EXIT_DEA_SHUTDOWN)
        for task in list(self._tasks):
            task.cancel()
        if self.status_server is not None:
            await self.status_server.stop()
        if self.logs is not None:
            await asyncio.to_thread(self.logs.close)
        if self.bus is not None:
            try:
                await self.bus.close()
            except Exception:  # noqa: BLE001 - leaving anyway
                pass
        cgroups.remove_parent(self.config.cgroup_root, self.config.cgroup_parent)
        self.evacuation_files.clear()

    async def _every(self, interval: Callable[[], float], action: Callable[[], Awaitable[None]],
                     first: bool = True) -> None:
        if not first:
            await asyncio.sleep(interval())
        while True:
            try:
                await action()
            except Exception:  # noqa: BLE001 - a timer must keep ticking
                log.exception("periodic %s failed", getattr(action, "__name__", action))
            await asyncio.sleep(interval())

    # --- capacity -------------------------------------------------------------------------

    def available_memory(self) -> int:
        assert self.manager is not None
        return self.config.memory_mb - self.manager.registry.reserved_memory_mb()

    def available_disk(self) -> int:
        assert self.manager is not None
        return self.config.disk_mb - self.manager.registry.reserved_disk_mb()

    # --- periodic messages ----------------------------------------------------------------

    async def advertise(self) -> None:
        assert self.bus is not None and self.manager is not None
        if self.evacuating_since is not None:
            return      # an evacuating DEA takes nothing new
        await self.bus.publish("dea.advertise", protocol.advertise(
            self.id, list(self.config.stacks), self.available_memory(), self.available_disk(),
            self.manager.registry.app_id_to_count()))

    async def heartbeat(self) -> None:
        """STARTING, RUNNING, EVACUATING and (for crash_lifetime) CRASHED instances, as dea_ng sent
        them; the health manager counts an instance present only when it is STARTING or RUNNING
        (an EVACUATING one is replaced elsewhere, then stopped)."""
        assert self.bus is not None and self.manager is not None
        shown = self.manager.registry.in_states((State.STARTING, State.RUNNING, State.EVACUATING, State.CRASHED))
        await self.bus.publish("dea.heartbeat", protocol.heartbeat(self.id, shown, self.config.heartbeat_interval))

    async def register_all_routes(self) -> None:
        assert self.manager is not None
        for instance in self.manager.registry.in_states(ROUTED_STATES):
            await self.running(instance)

    async def reap(self) -> None:
        """Forget instances that crashed more than crash_lifetime ago; drop unused droplets."""
        assert self.manager is not None
        now = time.time()
        for instance in self.manager.registry.in_states((State.CRASHED,)):
            if now - instance.state_timestamp > self.config.crash_lifetime:
                await self.manager.forget(instance)
        await asyncio.to_thread(self.manager.droplets.prune, self.manager.in_use_droplets())

    # --- Notifier (called by the instance manager) -------------------------------------------

    async def running(self, instance: Instance) -> None:
        if self.evacuating_since is not None and instance.state == State.RUNNING:
            instance.set_state(State.EVACUATING)     # started while evacuating: replaced like the rest
        if instance.uris and self.bus is not None:
            await self.bus.publish("router.register", protocol.route(instance, self.config.ip, self.id))

    async def leaving(self, instance: Instance) -> None:
        if instance.uris and self.bus is not None:
            await self.bus.publish("router.unregister", protocol.route(instance, self.config.ip, self.id))

    async def exited(self, instance: Instance, reason: str) -> None:
        if self.logs is not None:
            await self.pump_logs()      # the instance's last lines before its files go
            crashed = reason == protocol.EXIT_CRASHED
            self.logs.event(instance, f"{'Crashed' if crashed else 'Stopped'} app instance (index {instance.index}) "
                            f"with guid {instance.droplet}: {instance.exit_description}",
                            "ERR" if crashed else "OUT")
        if self.bus is not None:
            await self.bus.publish("droplet.exited", protocol.exited(instance, reason))

    # --- evacuation (the job's drain script asks for it: cf_platform.dea.drain) -------------

    async def evacuate(self) -> None:
        """dea_ng's evacuation: take nothing new (no advertise, no discover or staging answer),
        say ``dea.shutdown``, and report every running instance EVACUATING - it keeps serving
        and stays routed while the health manager has the cloud controller start its index on
        another DEA and then stop it here (``dea.stop``), once the replacement is RUNNING.
        Done when nothing is left running here, or after ``evacuation_timeout``, when what
        remains is stopped with reason DEA_EVACUATION (the HM restarts those at once)."""
        assert self.manager is not None
        if self.evacuating_since is not None:
            return
        self.evacuating_since = time.time()
        registry = self.manager.registry
        log.info("evacuating: %d instances to move (at most %g s)", len(registry.in_states(NOT_YET_EVACUATED)),
                 self.config.evacuation_timeout)
        self.evacuation_files.write_status(os.getpid(), EVACUATING, self.evacuating_since)
        for instance in registry.in_states((State.RUNNING,)):
            instance.set_state(State.EVACUATING)
        if self.bus is not None:
            await self.bus.publish("dea.shutdown", protocol.shutdown(self.id, self.config.ip,
                                                                     registry.app_id_to_count()))
        await self.heartbeat()
        self.spawn(self._finish_evacuation())

    async def _finish_evacuation(self) -> None:
        assert self.manager is not None and self.evacuating_since is not None
        deadline = self.evacuating_since + self.config.evacuation_timeout
        while self.manager.registry.in_states(NOT_YET_EVACUATED) and time.time() < deadline:
            await asyncio.sleep(EVACUATION_CHECK_INTERVAL)
        left = self.manager.registry.in_states(NOT_YET_EVACUATED)
        if left:
            log.warning("evacuation timed out after %g s: stopping %d instances that were not replaced",
                        self.config.evacuation_timeout, len(left))
            await asyncio.gather(*(self.manager.stop(i, protocol.EXIT_DEA_EVACUATION) for i in left),
                                 return_exceptions=True)
        log.info("evacuation done after %.1f s", time.time() - self.evacuating_since)
        self.evacuation_files.write_status(os.getpid(), DONE, time.time())

    # --- handlers ---------------------------------------------------------------------------

    async def on_discover(self, message: dict, msg: Msg) -> None:
        assert self.manager is not None
        if self.evacuating_since is not None or self.shutting_down:
            return
        mem = message["limits"]["mem"] or 0
        disk = message["limits"]["disk"] or 0
        if not discover.has_room(mem, disk, self.available_memory(), self.available_disk()):
            return
        counts = self.manager.registry.app_id_to_count()
        delay = discover.delay_seconds(counts.get(message.get("droplet"), 0),
                                       self.manager.registry.reserved_memory_mb(), self.config.memory_mb)
        self.spawn(self._answer_discover(msg, delay))

    async def _answer_discover(self, msg: Msg, delay: float) -> None:
        assert self.bus is not None
        await asyncio.sleep(delay)
        if self.evacuating_since is not None or self.shutting_down:
            return      # began to evacuate or leave while waiting: take nothing new
        await self.bus.reply(msg, protocol.discover_reply(self.id, self.config.ip, list(self.config.stacks),
                                                          self.available_memory()))

    async def on_staging_start(self, message: dict, msg: Msg) -> None:
        if self.evacuating_since is not None:
            if self.bus is not None:
                await self.bus.reply(msg, {"error": "this DEA is evacuating; try again", "log": ""})
            return
        if self._staging_queued >= STAGING_QUEUE_LIMIT:
            log.warning("refusing to stage %s: %d stagings already queued", message["app_id"],
                        self._staging_queued)
            if self.bus is not None:
                await self.bus.reply(msg, {"error": "this DEA is busy staging; try again", "log": ""})
            return
        self._staging_queued += 1
        task = self.spawn(self._stage(message, msg))
        task.add_done_callback(lambda _t: setattr(self, "_staging_queued", self._staging_queued - 1))

    async def _stage(self, message: dict, msg: Msg) -> None:
        assert self.bus is not None
        config = self.config
        async with self._staging:
            log.info("staging %s (%s)", message.get("name"), message.get("app_id"))
            reply = await asyncio.to_thread(
                staging.stage, message, config, self.cgroups_enabled)
        if reply.get("error"):
            self.stagings_failed += 1
            log.warning("staging %s failed: %s", message.get("app_id"), reply["error"])
        else:
            self.stagings_done += 1
        if self.logs is not None and isinstance(message.get("app_id"), str):
            self.logs.staging(message["app_id"], str(reply.get("log") or ""))
        await self.bus.reply(msg, reply)

    async def on_start(self, message: dict, msg: Msg) -> None:
        assert self.manager is not None
        if self.shutting_down:
            log.warning("not starting %s index %s: this DEA is shutting down", message.get("name"),
                        message.get("index"))
            return
        try:
            instance = Instance.from_start_message(message)
        except ValueError as error:
            log.warning("ignoring bad start message: %s", error)
            return
        log.info("starting %s (%s) index %d", instance.name, instance.droplet, instance.index)
        if self.logs is not None:
            self.logs.event(instance, f"Starting app instance (index {instance.index}) with guid {instance.droplet}")
        self.manager.start(instance)
        if msg.reply and self.bus is not None:
            await self.bus.reply(msg, {"dea": self.id, "instance": instance.instance_id})

    async def on_stop(self, message: dict, msg: Msg) -> None:
        assert self.manager is not None
        for instance in self.manager.registry.matching(message):
            self.spawn(self.manager.stop(instance))

    async def on_find_droplet(self, message: dict, msg: Msg) -> None:
        assert self.manager is not None
        matches = self.manager.registry.matching(message)
        if matches:
            self.spawn(self._answer_find(message, msg, matches))

    async def _answer_find(self, message: dict, msg: Msg, matches: list[Instance]) -> None:
        assert self.bus is not None and self.manager is not None
        for instance in matches:
            stats = None
            if message.get("include_stats"):
                usage = await asyncio.to_thread(self.manager.usage, instance)
                stats = protocol.stats(instance, usage)
            tails = None
            if message.get("include_logs"):
                tails = await asyncio.to_thread(self.manager.log_tails, instance)
            await self.bus.reply(msg, protocol.find_reply(instance, self.id, self.config.ip, stats, tails))

    async def on_update(self, message: dict, msg: Msg) -> None:
        """New uris for an app's instances: unregister the dropped ones, register the rest."""
        assert self.manager is not None and self.bus is not None
        uris = list(message["uris"])
        for instance in self.manager.registry.matching({"droplet": message["droplet"]}):
            dropped = [u for u in instance.uris if u not in uris]
            if instance.state in ROUTED_STATES and dropped:
                body = protocol.route(instance, self.config.ip, self.id)
                body["uris"] = dropped
                await self.bus.publish("router.unregister", body)
            instance.uris = uris
            if instance.state in ROUTED_STATES:
                await self.running(instance)

    async def on_locate(self, message: dict, msg: Msg) -> None:
        await self.advertise()

    async def on_router_start(self, message: dict, msg: Msg) -> None:
        """Re-register at once, but at most once a second: a flood of router.start must not
        turn into a flood of router.register."""
        interval = message["minimumRegisterIntervalInSeconds"]
        if interval is not None:
            self.register_interval = interval
        now = time.monotonic()
        if now - self._last_router_start < ROUTER_START_MIN_GAP:
            return
        self._last_router_start = now
        await self.register_all_routes()
