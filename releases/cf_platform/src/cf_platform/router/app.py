"""The router process: wires registry, NATS subscriber, nginx and status server together.

Order matters: nginx and the status port come up first (with an empty table nginx answers
404 unknown_route, and /health is probed), then NATS, whose first connection may take
a while when the bus is still starting. Pruning runs every ``prune_interval`` and is
suspended while NATS is unreachable (endpoints cannot refresh then; dropping every route
because the bus blinked would take every app offline).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from pathlib import Path
from typing import Any

from cf_platform.mbus import Bus
from cf_platform.router.config import RouterConfig
from cf_platform.router.nginx import ConfigApplier, NginxError, NginxProcess, become_subreaper
from cf_platform.router.nginx_conf import Listen, render
from cf_platform.router.registry import Endpoint, RouteKey, RouteRegistry
from cf_platform.router.status import StatusServer
from cf_platform.router.subscriber import Subscriber

log = logging.getLogger(__name__)

NGINX_RESTART_DELAY = 1.0


class Router:
    def __init__(self, config: RouterConfig) -> None:
        self.config = config
        self.registry = RouteRegistry(stale_threshold=config.prune_threshold)
        run_dir = Path(config.nginx.run_dir)
        self.nginx = NginxProcess(config.nginx.binary, run_dir / "nginx.conf", run_dir)
        listen = Listen(config.listen_address, config.port)
        self.applier: ConfigApplier[RouteKey, list[Endpoint]] = ConfigApplier(
            self.nginx, self.registry.routes,
            lambda routes: render(routes, listen, config.nginx,
                                  trust_forwarded_proto=not config.sanitize_forwarded_proto),
            drop=self.registry.remove_route, debounce=config.nginx.reload_debounce)
        self.status = StatusServer(config.status.listen_address, config.status.port,
                                   config.status.user, config.status.password,
                                   healthy=lambda: self.nginx.running,
                                   routes=self.registry.snapshot, varz=self.varz)
        self.bus: Bus | None = None
        self.subscriber: Subscriber | None = None
        self.started_at = time.time()
        self.pruned = 0
        self._stop = asyncio.Event()

    def varz(self) -> dict[str, Any]:
        sub = self.subscriber
        return {"type": "Router", "id": self.config.id, "host": self.config.ip,
                "uptime": round(time.time() - self.started_at, 1),
                "routes": len(self.registry),
                "endpoints": sum(len(e) for e in self.registry.routes().values()),
                "nginx": {"pid": self.nginx.pid, "reloads": self.nginx.reloads,
                          "config_failures": self.applier.failures,
                          "routes_dropped": self.applier.dropped},
                "nats": {"connected": bool(self.bus and self.bus.client.is_connected),
                         "registrations": sub.registrations if sub else 0,
                         "unregistrations": sub.unregistrations if sub else 0,
                         "rejected": sub.rejected if sub else 0,
                         "announcements": sub.announcements if sub else 0},
                "pruned": self.pruned}

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        for directory in (self.config.nginx.run_dir, self.config.nginx.log_dir):
            Path(directory).mkdir(parents=True, exist_ok=True)
        become_subreaper()
        self.applier.write_initial()
        await self.nginx.test(self.nginx.conf_path)
        await self.nginx.start()
        tasks: list[asyncio.Task] = []
        try:
            await self.status.start()
            tasks.append(asyncio.create_task(self._watch_nginx(), name="nginx"))
            tasks.append(asyncio.create_task(self.applier.run(), name="applier"))
            tasks.append(asyncio.create_task(self._connect_and_subscribe(), name="nats"))
            tasks.append(asyncio.create_task(self._prune_loop(), name="prune"))
            await self._stop.wait()
        finally:
            log.info("stopping")
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.status.stop()
            if self.bus is not None:
                try:
                    await asyncio.wait_for(self.bus.close(), 2)
                except Exception:  # closing is best effort on the way out
                    pass
            await self.nginx.stop()

    async def _connect_and_subscribe(self) -> None:
        nats = self.config.nats

        async def reconnected() -> None:
            if self.subscriber is not None:
                await self.subscriber.announce()

        self.bus = await Bus.connect(nats.servers, nats.user, nats.password,
                                     name=f"router-{self.config.id}", on_reconnect=reconnected)
        self.subscriber = Subscriber(self.bus, self.registry, self.config.greeting(),
                                     on_change=self.applier.mark_dirty)
        await self.subscriber.start()

    async def _prune_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.prune_interval)
            connected = self.bus is not None and self.bus.client.is_connected
            if not connected and self.config.suspend_pruning_if_nats_unavailable:
                log.info("NATS unavailable: pruning suspended")
                continue
            pruned = self.registry.prune(time.time())
            if pruned:
                self.pruned += len(pruned)
                log.info("pruned %d stale endpoints: %s", len(pruned), pruned)
                self.applier.mark_dirty()

    async def _watch_nginx(self) -> None:
        """Restart nginx with the current configuration if it dies under us."""
        while True:
            code = await self.nginx.wait()
            log.error("nginx exited with %s; restarting in %gs", code, NGINX_RESTART_DELAY)
            await asyncio.sleep(NGINX_RESTART_DELAY)
            while True:
                try:
                    await self.nginx.start()
                    break
                except NginxError as e:
                    log.error("nginx restart failed: %s", e)
                    await asyncio.sleep(NGINX_RESTART_DELAY * 5)
