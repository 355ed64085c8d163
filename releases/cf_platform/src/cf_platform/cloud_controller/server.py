"""Wiring and process life: config -> database, blobstore, NATS, HTTP server; SIGTERM stops it."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any, Awaitable, Callable

from ..component import (
    Component,
    ResponseCounts,
    StatusServer,
    announce_again,
    parse_index,
    parse_status_settings,
    start_component,
)
from ..mbus import Bus
from ..messages import validated
from . import log_drains
from .api import PublicApi
from .api_log_lines import ApiLines
from .app_service import AppService
from .auth import authenticator_for
from .blobs import Blobstore
from .config import CcConfig, ConfigError, load_config
from .db import Database
from .dea_client import DeaClient, InternalUrls
from .internal_api import InternalApi
from .loop_thread import LoopThread
from .messages import parse_exited, parse_health_start, parse_health_stop
from .services.wiring import start_services
from .web import Router, make_server

log = logging.getLogger("cloud_controller")
NATS_CONNECT_TIMEOUT = 60   # then exit: the agent restarts us with backoff


class CloudController:
    """One running CC: call :meth:`start`, then :meth:`stop` (tests run it in-process too)."""

    def __init__(self, config: CcConfig) -> None:
        self.config = config
        self.loop = LoopThread()
        self.db: Database | None = None
        self.bus: Bus | None = None
        self.httpd = None
        self._http_thread: threading.Thread | None = None
        self.responses = ResponseCounts()
        self.component: Component | None = None
        self.status_server: StatusServer | None = None
        self.service: AppService | None = None

    def start(self) -> None:
        c = self.config
        if c.extra.get("status") is not None:  # CF v1's status port (component.py); off without it
            self.component = Component("CloudController", parse_index(c.extra.get("index")), c.external_host,
                                       parse_status_settings(c.extra["status"], "status"))
        c.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(c.db_path)
        blobs = Blobstore(c.blob_dir)
        domain = self.db.ensure_domain(c.domain)
        self.loop.start()
        try:
            self.bus = self.loop.run(Bus.connect(c.nats.servers, c.nats.user, c.nats.password,
                                                 name="cloud_controller", on_reconnect=self._announce_again),
                                     timeout=NATS_CONNECT_TIMEOUT)
        except TimeoutError:
            raise RuntimeError(f"no NATS server answered within {NATS_CONNECT_TIMEOUT} s at "
                               f"{', '.join(c.nats.servers)}") from None
        deas = DeaClient(self.bus, InternalUrls(c.external_host, c.advertised_port, c.internal_user,
                                                c.internal_password),
                         c.discover_timeout, c.staging_timeout, c.default_fds)
        service = AppService(self.db, blobs, self.loop, deas, domain, default_memory=c.default_memory,
                             default_disk=c.default_disk, find_timeout=c.find_timeout)
        self.service = service
        service.api_lines = ApiLines.from_config(c.extra)   # API/<index> lines (docs/logs.md)
        self.loop.run(self._subscribe(service), timeout=30)
        router = Router()
        tokens = authenticator_for(c)      # the UAA's keys, or the built-in issuer without a UAA
        public = PublicApi(c, service, blobs, tokens)
        public.register(router)
        InternalApi(c, service, blobs).register(router)
        log_drains.register(router, c, self.db)   # for the log server (docs/logs.md)
        # the same tenancy gate as the apps: service instances belong to spaces (services/access.py)
        self.services = start_services(c.extra, self.db, deas, public.access, router)
        service.unbind_services = self.services.bindings.unbind_app
        public.deleter.services = self.services   # a deleted space's service instances
        self.httpd = make_server(c.bind, c.port, router, c.http_header_timeout, c.http_io_timeout,
                                 c.http_max_connections, on_response=self.responses.record)
        self._http_thread = threading.Thread(target=self.httpd.serve_forever, name="cc-http", daemon=True)
        self._http_thread.start()
        service.resume()
        if self.component is not None:
            self.loop.run(self._start_status(self.component), timeout=30)
        log.info("cloud controller listening on %s:%d (domain %s)", c.bind, c.port, c.domain)

    async def _subscribe(self, service: AppService) -> None:
        assert self.bus is not None
        # a queue group: with several CCs, one of them acts on each request; every message is
        # checked first (messages.py), a malformed one logged and dropped
        handlers = (("health.start", parse_health_start, service.on_health_start),
                    ("health.stop", parse_health_stop, service.on_health_stop),
                    ("droplet.exited", parse_exited, service.on_droplet_exited))
        for subject, parse, handle in handlers:
            await self.bus.subscribe(subject, validated(subject, parse, _ignoring_msg(handle)),
                                     queue="cloud_controller")
        await self.bus.client.flush()

    def varz(self) -> dict[str, Any]:
        """The CC's own /varz counters (component.Component.varz adds the common keys)."""
        responses = self.responses.snapshot()
        apps = self.db.list_apps() if self.db is not None else []
        return {"requests": sum(responses.values()), "responses": responses,
                "apps": {"total": len(apps), "started": sum(1 for a in apps if a.state == "STARTED")},
                "log_lines": self.service.api_lines.counters() if self.service is not None else {}}

    def unhealthy(self) -> str | None:
        return None if self.bus is not None and self.bus.client.is_connected else "NATS is not connected"

    async def _start_status(self, component: Component) -> None:
        """On the loop thread: the status port, then the announcement (its host names the port)."""
        assert self.bus is not None
        self.status_server = await start_component(self.bus, component, self.varz, self.unhealthy,
                                                   realm="cloud_controller")

    async def _announce_again(self) -> None:
        if self.component is not None and self.status_server is not None and self.bus is not None:
            await announce_again(self.bus, self.component)

    def stop(self) -> None:
        if self.status_server is not None:
            try:
                self.loop.run(self.status_server.stop(), timeout=5)
            except Exception:  # stopping anyway
                log.warning("status server close failed", exc_info=True)
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
        if self.bus is not None:
            try:
                self.loop.run(self.bus.close(), timeout=5)
            except Exception:  # stopping anyway
                log.warning("NATS close failed", exc_info=True)
        self.loop.stop()
        if self.service is not None:
            self.service.api_lines.close()   # sends what is queued, for at most 2 s
        if self.db is not None:
            self.db.close()


def _ignoring_msg(handle: Callable[[dict], Awaitable[None]]) -> Callable[[dict, Any], Awaitable[None]]:
    async def on_message(message: dict, _msg: Any) -> None:
        await handle(message)
    return on_message


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cloud_controller", description=__doc__)
    parser.add_argument("--config", required=True, help="JSON config file (rendered by the job)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"cloud_controller: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(level=getattr(logging, config.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cc = CloudController(config)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    try:
        cc.start()
    except Exception as e:  # NATS or the port unavailable: say so in one line; the agent restarts us
        log.error("cannot start: %s: %s", type(e).__name__, e)
        cc.stop()
        return 1
    done.wait()
    log.info("stopping")
    cc.stop()
    return 0
