"""The health manager process: NATS in (heartbeats, exits, dea.shutdown, checked by :mod:`messages`), HTTP
in (desired state), NATS out (health.start, health.stop). All judgement is in :mod:`decisions`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from collections import Counter
from typing import Any

from ..component import Component, StatusServer, announce_again, start_component
from ..log_server.emitter import LogEmitter
from ..mbus import Bus
from ..messages import validated
from .config import ConfigError, HmConfig, load_config
from .dea_liveness import DeaLost
from .decisions import HealthState, StartRequest, StopRequest
from .desired import DesiredStateError, fetch_desired
from .messages import parse_exited, parse_heartbeat, parse_shutdown

log = logging.getLogger("health_manager")


class HealthManager:
    def __init__(self, config: HmConfig, clock=time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.state = HealthState(config.policy)
        self.bus: Bus | None = None
        self._stopping = asyncio.Event()
        self.counts: Counter[str] = Counter()  # /varz: what the HM heard and asked for
        self.component = Component("HealthManager", config.index, config.host, config.status) \
            if config.status is not None else None
        self.status_server: StatusServer | None = None
        self.app_logs = LogEmitter(config.log_server) if config.log_server is not None else None  # HM lines

    async def run(self) -> None:
        c = self.config
        self.bus = await Bus.connect(c.nats_servers, c.nats_user, c.nats_password, name="health_manager",
                                     on_reconnect=self._on_bus_connected, on_disconnect=self._on_bus_disconnected)
        self.state.observe_bus_connected(self.clock())
        for subject, parse, handler in (("dea.heartbeat", parse_heartbeat, self._on_heartbeat),
                                        ("droplet.exited", parse_exited, self._on_exited),
                                        ("dea.shutdown", parse_shutdown, self._on_shutdown)):
            await self.bus.subscribe(subject, validated(subject, parse, handler))
        await self.bus.client.flush()     # the server has our subscriptions before we say we are up
        log.info("health manager up: grace %.1fs, a DEA is lost after %g of its heartbeat intervals, "
                 "poll every %.1fs", c.policy.grace, c.policy.dea_lost_after, c.poll_interval)
        if self.component is not None:
            self.status_server = await start_component(self.bus, self.component, self.varz, self.unhealthy,
                                                       realm="health_manager")
        tasks = [asyncio.create_task(self._poll_desired()), asyncio.create_task(self._decide_loop())]
        await self._stopping.wait()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.status_server is not None:
            await self.status_server.stop()
        await self.bus.close()

    def varz(self) -> dict[str, Any]:
        """The HM's own /varz counters (component.Component.varz adds CF v1's common keys)."""
        desired = self.state.desired
        return {"heartbeats": self.counts["heartbeats"], "exited": self.counts["exited"],
                "shutdowns": self.counts["shutdowns"], "deas_lost": self.counts["deas_lost"],
                "start_requests": self.counts["start_requests"], "stop_requests": self.counts["stop_requests"],
                "deas": len(self.state.deas.deas), "instances_seen": len(self.state.instances),
                "desired_apps": None if desired is None else len(desired),
                "desired_age_seconds": None if self.state.desired_at is None
                else round(self.clock() - self.state.desired_at, 1)}

    def unhealthy(self) -> str | None:
        """Why /healthz answers 503: no bus (it decides nothing), or no fresh desired state."""
        if self.bus is None or not self.bus.client.is_connected:
            return "NATS is not connected"
        at = self.state.desired_at
        if at is None or self.clock() - at > self.state.policy.desired_stale_after:
            return "no fresh desired state from the cloud controller"
        return None

    def stop(self) -> None:
        self._stopping.set()

    async def _on_bus_connected(self) -> None:
        log.info("NATS connection back: every DEA and instance gets a full grace from now")
        self.state.observe_bus_connected(self.clock())
        if self.component is not None and self.status_server is not None and self.bus is not None:
            await announce_again(self.bus, self.component)

    async def _on_bus_disconnected(self) -> None:
        log.warning("NATS connection lost: deciding nothing until it is back")
        self.state.observe_bus_disconnected()

    async def _on_heartbeat(self, message: dict, _msg) -> None:
        log.debug("heartbeat from DEA %s: %d instances", message["dea"], len(message["droplets"]))
        self.counts["heartbeats"] += 1
        self.state.observe_heartbeat(message, self.clock())

    async def _on_exited(self, message: dict, _msg) -> None:
        log.info("droplet.exited: %s index %s %s (%s)", message.get("droplet"), message.get("index"),
                 message.get("reason"), message.get("exit_description"))
        self.counts["exited"] += 1
        self.state.observe_exited(message, self.clock())
        await self._decide()      # a crash is acted on at once, not at the next tick

    async def _on_shutdown(self, message: dict, _msg) -> None:
        log.info("dea.shutdown: DEA %s is evacuating; its instances are started elsewhere", message["id"])
        self.counts["shutdowns"] += 1
        self.state.observe_shutdown(message, self.clock())
        await self._decide()

    async def _poll_desired(self) -> None:
        c = self.config
        while True:
            try:
                apps = await asyncio.to_thread(fetch_desired, c.cc_url, c.cc_user, c.cc_password)
                self.state.set_desired(apps, self.clock())
                log.debug("desired state: %d apps, %d runnable", len(apps), sum(a.runnable for a in apps))
            except DesiredStateError as e:
                log.warning("%s (doing nothing until the cloud controller answers)", e)
            await asyncio.sleep(c.poll_interval)

    async def _decide_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.decide_interval)
            try:
                await self._decide()
            except Exception:  # one bad round must not end the health manager
                log.exception("decision round failed")

    async def _decide(self) -> None:
        assert self.bus is not None
        for action in self.state.decide(self.clock()):
            if isinstance(action, DeaLost):
                self.counts["deas_lost"] += 1
                log.warning("DEA %s lost: silent for %.1f s while the bus works; starting its instances "
                            "elsewhere", action.dea, action.silent_for)
            elif isinstance(action, StartRequest):
                log.info("missing: %s indices %s (version %s) -> health.start", action.droplet,
                         list(action.indices), action.version)
                self.counts["start_requests"] += 1
                await self.bus.publish("health.start", action.message())
                self._tell_app(action.droplet, action.indices, "instance index {} is missing: asking the cloud "
                               "controller to start it")
            elif isinstance(action, StopRequest):
                log.info("extra: %s instances %s -> health.stop", action.droplet, list(action.instances))
                self.counts["stop_requests"] += 1
                await self.bus.publish("health.stop", action.message())
                self._tell_app(action.droplet, (0,), f"{len(action.instances)} instance(s) more than desired: "
                               "asking the cloud controller to stop them")

    def _tell_app(self, app: str, indices: tuple[int, ...], message: str) -> None:
        """The decision as an ``HM/<index>`` line of the app (never blocks: emitter.py)."""
        if self.app_logs is not None:
            for index in indices:
                self.app_logs.emit(app, "HM", index, message.format(index))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="health_manager")
    parser.add_argument("--config", required=True, help="JSON config file (rendered by the job)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"health_manager: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(level=getattr(logging, config.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def run() -> None:
        hm = HealthManager(config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, hm.stop)
        await hm.run()

    try:
        asyncio.run(run())
    except Exception as e:  # NATS unavailable at start: one line; the agent restarts us
        log.error("health manager failed: %s: %s", type(e).__name__, e)
        return 1
    return 0
