"""The router process: wires registry, NATS subscriber, nginx and status server together.

Order matters: nginx and the status port come up first (with an empty table nginx answers
404 unknown_route, and /health is probed), then NATS, whose first connection may take
a while when the bus is still starting. Pruning runs every ``prune_interval`` and is
suspended while NATS is unreachable (endpoints cannot refresh then; dropping every route
because the bus blinked would take every app offline).

Drain (gorouter's): SIGUSR1, sent by the job's bin/drain (drain_command.py), makes /health
answer 503 so the load balancer stops sending; nginx keeps serving for ``drain.wait``
seconds, then gets QUIT (stop accepting, finish the requests in flight) and at most
``drain.timeout`` seconds later SIGKILL; the router then says "drained" in
``drain.state_file`` and stays up without nginx until the agent stops the job.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

from cf_platform.component import Component, announce_again, announce_on
from cf_platform.log_server.emitter import LogEmitter
from cf_platform.mbus import Bus
from cf_platform.router.app_access_logs import AccessLogFollower
from cf_platform.router.config import RouterConfig
from cf_platform.router.drain_state import (
    DRAINED,
    DRAINING,
    DrainState,
    write_atomically,
    write_state,
)
from cf_platform.router.metrics_page import render_metrics
from cf_platform.router.nginx import (
    ConfigApplier,
    NginxError,
    NginxProcess,
    become_subreaper,
    reap_orphaned_workers,
)
from cf_platform.router.nginx_conf import Listen, metrics_log, render
from cf_platform.router.registry import Endpoint, RouteKey, RouteRegistry
from cf_platform.router.request_metrics import MetricsLog, RequestMetrics
from cf_platform.router.status import router_status_server
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
        self.component = Component("Router", config.index, config.ip, config.status)
        self.status = router_status_server(self.component, unhealthy=self.unhealthy,
                                           routes=self.registry.snapshot, varz=self.varz,
                                           metrics=self.metrics_text)
        self.request_metrics = RequestMetrics()
        self.metrics_log = MetricsLog(Path(metrics_log(config.nginx)), self.request_metrics) \
            if config.nginx.request_metrics else None
        self.app_logs = AccessLogFollower(Path(config.nginx.log_dir) / "access.log", LogEmitter(config.log_server),
                                          lambda: [e for es in self.registry.routes().values() for e in es]) \
            if config.log_server is not None and config.nginx.access_log else None   # RTR lines (docs/logs.md)
        self.bus: Bus | None = None
        self.subscriber: Subscriber | None = None
        self.started_at = time.time()
        self.pruned = 0
        self.draining = False
        self._drain_task: asyncio.Task | None = None
        self._stop = asyncio.Event()

    def unhealthy(self) -> str | None:
        """Why the load balancer should not send here (None: it should)."""
        if self.draining:
            return "draining"
        return None if self.nginx.running else "nginx is not running"

    def metrics_text(self) -> str:
        """/metrics: Prometheus text (metrics_page.py)."""
        if self.metrics_log is not None:
            try:
                self.metrics_log.poll()  # what nginx flushed since the last poll
            except OSError as e:
                log.warning("cannot read the metric lines: %s", e)
        return render_metrics(self.registry, self.nginx.reloads, self.applier.failures,
                              self.request_metrics if self.metrics_log else None)

    def varz(self) -> dict[str, Any]:
        """The router's own counters; component.Component.varz adds CF v1's common keys
        (type, index, host, uuid, uptime, mem, cpu)."""
        sub = self.subscriber
        requests = self.request_metrics
        return {"id": self.config.id,
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
                "pruned": self.pruned, "draining": self.draining,
                "requests": requests.lines, "responses": requests.by_status_class(),
                "latency": {"count": sum(requests.latency_counts),
                            "sum_seconds": round(requests.latency_sum, 6)}}

    def request_stop(self) -> None:
        self._stop.set()

    def request_drain(self) -> None:
        """SIGUSR1. Idempotent: bin/drain may signal again while the drain runs."""
        if self.draining or self._stop.is_set():
            return
        self.draining = True
        self._record_drain(DrainState(DRAINING, time.time()))
        self._drain_task = asyncio.get_running_loop().create_task(self._drain(), name="drain")

    async def _drain(self) -> None:
        drain = self.config.drain
        log.info("draining: /health answers 503, nginx serves for %gs more", drain.wait)
        await asyncio.sleep(drain.wait)
        log.info("draining: nginx stops accepting and finishes the requests in flight (at most %gs)",
                 drain.timeout)
        started = time.monotonic()
        await self.nginx.stop(timeout=drain.timeout)
        killed = reap_orphaned_workers()  # a master killed at the timeout leaves its workers
        if killed:
            log.warning("drain timeout: killed nginx workers %s", killed)
        self._record_drain(DrainState(DRAINED, time.time()))
        log.info("drained (nginx exited %.1fs after QUIT)", time.monotonic() - started)

    def _record_drain(self, state: DrainState) -> None:
        """Tell bin/drain; a file that cannot be written must not stop the drain itself
        (bin/drain then gives up after its limit, by which time nginx has stopped)."""
        if self.config.drain.state_file:
            try:
                write_state(self.config.drain.state_file, state)
            except OSError as e:
                log.error("cannot write the drain state to %s: %s", self.config.drain.state_file, e)

    def _write_pid_file(self) -> None:
        """Our PID for bin/drain, and no drain state left from an earlier run."""
        drain_state = self.config.drain.state_file
        if drain_state:
            for stale in (Path(drain_state), Path(drain_state + ".signalled")):
                stale.unlink(missing_ok=True)
        if self.config.pid_file:
            write_atomically(self.config.pid_file, f"{os.getpid()}\n")

    def _remove_pid_file(self) -> None:
        if self.config.pid_file:
            pid_file = Path(self.config.pid_file)
            try:
                if pid_file.read_text().split()[0] == str(os.getpid()):
                    pid_file.unlink()
            except (OSError, IndexError):
                pass

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGUSR1, self.request_drain)
        for directory in (self.config.nginx.run_dir, self.config.nginx.log_dir):
            Path(directory).mkdir(parents=True, exist_ok=True)
        become_subreaper()
        self.applier.write_initial()
        await self.nginx.test(self.nginx.conf_path)
        if self.metrics_log is not None:
            self.metrics_log.create()  # before nginx opens it
        await self.nginx.start()
        tasks: list[asyncio.Task] = []
        try:
            self._write_pid_file()
            await self.status.start()
            tasks.append(asyncio.create_task(self._watch_nginx(), name="nginx"))
            tasks.append(asyncio.create_task(self.applier.run(), name="applier"))
            tasks.append(asyncio.create_task(self._connect_and_subscribe(), name="nats"))
            tasks.append(asyncio.create_task(self._prune_loop(), name="prune"))
            if self.metrics_log is not None:
                tasks.append(asyncio.create_task(self.metrics_log.run(), name="metrics"))
            if self.app_logs is not None:
                tasks.append(asyncio.create_task(self.app_logs.run(), name="app-logs"))
            await self._stop.wait()
        finally:
            log.info("stopping")
            if self._drain_task is not None:
                tasks.append(self._drain_task)
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
            self._remove_pid_file()

    async def _connect_and_subscribe(self) -> None:
        nats = self.config.nats

        async def reconnected() -> None:
            if self.subscriber is not None:
                await self.subscriber.announce()
                await announce_again(self.bus, self.component)

        self.bus = await Bus.connect(nats.servers, nats.user, nats.password,
                                     name=f"router-{self.config.id}", on_reconnect=reconnected)
        self.subscriber = Subscriber(self.bus, self.registry, self.config.greeting(),
                                     on_change=self.applier.mark_dirty)
        await self.subscriber.start()
        await announce_on(self.bus, self.component)

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
            if self.draining:
                return  # stopped on purpose: a drained router serves nothing until it restarts
            log.error("nginx exited with %s; restarting in %gs", code, NGINX_RESTART_DELAY)
            await asyncio.sleep(NGINX_RESTART_DELAY)
            while True:
                try:
                    await self.nginx.start()
                    break
                except NginxError as e:
                    log.error("nginx restart failed: %s", e)
                    await asyncio.sleep(NGINX_RESTART_DELAY * 5)
