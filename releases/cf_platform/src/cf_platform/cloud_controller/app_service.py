"""What the cloud controller does when the desired state changes: the app life cycle.

HTTP handlers (threads) call the synchronous methods, which check the request
(app_rules.py) and write the database, then hand what convergence.py plans (stage, start,
stop) to the loop thread. On the loop, work for one app runs under that app's lock, so a
stop cannot overtake the start it follows. Every async step re-reads the app first: the
user may have changed it meanwhile. Staging is staging.py's; what /instances, /stats and
the logs show is instance_views.py's; NATS requests are read by bus_requests.py.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, Coroutine

from . import app_rules, bus_requests, convergence, errors, instance_views
from .api_log_lines import ApiLines
from .blobs import Blobstore
from .db import DEFAULT_SPACE_GUID, Database, HostTaken, NameTaken, now_iso
from .dea_client import DeaClient
from .loop_thread import LoopThread
from .models import FAILED, PENDING, STARTED, App, Domain, Route
from .package_check import InvalidPackage, check_zip
from .staging import Stager

log = logging.getLogger(__name__)

class AppService:
    def __init__(self, db: Database, blobs: Blobstore, loop: LoopThread, deas: DeaClient, domain: Domain,
                 *, default_memory: int = 256, default_disk: int = 1024, find_timeout: float = 1.0) -> None:
        self.db = db
        self.blobs = blobs
        self.loop = loop
        self.deas = deas
        self.domain = domain
        self.default_memory = default_memory
        self.default_disk = default_disk
        self.find_timeout = find_timeout
        self.stager = Stager(db, blobs, deas, self._start_indices)
        self._mutate = threading.Lock()          # old/new comparisons see a consistent row
        self._app_locks: dict[str, asyncio.Lock] = {}   # touched on the loop thread only
        # revokes an app's service bindings before it is deleted (server.py plugs in
        # services.bindings.Bindings.unbind_app; without services, nothing to revoke)
        self.unbind_services: Callable[[str], None] = lambda _guid: None
        # the app's API/<index> lines for `cf-py logs` (server.py plugs in the configured log server)
        self.api_lines = ApiLines()

    # -- reading --------------------------------------------------------------------------

    def get(self, guid: str) -> App:
        app = self.db.get_app(guid)
        if app is None:
            raise errors.app_not_found(guid)
        return app

    def uris(self, app_guid: str) -> list[str]:
        domains = {d.guid: d.name for d in self.db.list_domains()}
        return [f"{r.host}.{domains[r.domain_guid]}" for r in self.db.app_routes(app_guid) if r.domain_guid in domains]

    # -- creating and changing apps -------------------------------------------------------

    def create(self, body: dict) -> App:
        app = app_rules.new_app(body, self.default_memory, self.default_disk)
        with self._mutate:
            if self.db.app_by_name(app.name, app.space_guid or DEFAULT_SPACE_GUID) is not None:
                raise errors.app_name_taken(app.name)
            try:
                created = self.db.create_app(app)
            except NameTaken:
                raise errors.app_name_taken(app.name) from None
        self.api_lines.created(created)
        return created

    def update(self, guid: str, body: dict) -> App:
        with self._mutate:
            old = self.get(guid)
            changes = app_rules.changes(old, body)
            if "name" in changes:
                other = self.db.app_by_name(changes["name"], old.space_guid or DEFAULT_SPACE_GUID)
                if other is not None and other.guid != guid:
                    raise errors.app_name_taken(changes["name"])
            try:
                new = self.db.update_app(guid, **changes)
            except NameTaken:
                raise errors.app_name_taken(str(changes.get("name"))) from None
            if new is None:
                raise errors.app_not_found(guid)
        self.api_lines.updated(old, new)
        for action in convergence.plan(old, new):
            self._submit(guid, self._carry_out(guid, action), action.what)
        return new

    def delete(self, guid: str) -> None:
        self.get(guid)
        self.unbind_services(guid)   # brokers are called outside the lock: they may be slow
        with self._mutate:
            app = self.get(guid)
            self.db.delete_app(guid)
        self.api_lines.deleted(app)
        self.blobs.delete_app(guid)
        # the DEAs unregister the routes from the routers as the instances stop
        self._submit(guid, self.deas.stop(guid), "stop deleted app")
        log.info("deleted app %s (%s)", app.name, guid)

    # -- bits and droplets ----------------------------------------------------------------

    def accept_bits(self, guid: str, tmp: Path, sha1: str) -> App:
        """Validate an uploaded zip and make it the app's package (to be staged)."""
        try:
            try:
                check_zip(tmp)
            except InvalidPackage as e:
                raise errors.bits_invalid(str(e)) from None
            with self._mutate:
                self.get(guid)
                self.blobs.commit(tmp, self.blobs.bits_path(guid))
                app = self.db.update_app(guid, bits_sha1=sha1, package_state=PENDING, package_updated_at=now_iso(),
                                         staging_failed_reason=None, staging_failed_description=None)
        finally:
            self.blobs.discard(tmp)
        assert app is not None
        if app.state == STARTED:
            self._submit(guid, self.stager.stage_and_start(guid), "staging")
        return app

    def accept_droplet(self, guid: str, tmp: Path, sha1: str) -> None:
        try:
            self.get(guid)
            self.blobs.commit(tmp, self.blobs.droplet_path(guid))
            log.info("droplet for %s stored (sha1 %s)", guid, sha1)
        finally:
            self.blobs.discard(tmp)

    # -- routes ---------------------------------------------------------------------------

    def create_route(self, body: dict) -> Route:
        host = body.get("host")
        domain_guid = body.get("domain_guid")
        if not isinstance(host, str) or not host or not app_rules.valid_host(host):
            raise errors.route_invalid("host must be letters, digits and '-' (at most 63)")
        if not isinstance(domain_guid, str) or self.db.get_domain(domain_guid) is None:
            raise errors.domain_not_found(str(domain_guid))
        try:
            return self.db.create_route(host.lower(), domain_guid)
        except HostTaken:
            raise errors.route_host_taken(host) from None

    def get_route(self, guid: str) -> Route:
        route = self.db.get_route(guid)
        if route is None:
            raise errors.route_not_found(guid)
        return route

    def bind_route(self, app_guid: str, route_guid: str) -> App:
        app = self.get(app_guid)
        route = self.get_route(route_guid)
        newly = app_guid not in self.db.route_apps(route_guid)
        self.db.bind_route(app_guid, route_guid)
        if newly:
            self.api_lines.route_mapped(app_guid, self._route_uri(route))
        self._routes_changed(app)
        return app

    def unbind_route(self, app_guid: str, route_guid: str) -> None:
        app = self.get(app_guid)
        route = self.get_route(route_guid)
        was_bound = app_guid in self.db.route_apps(route_guid)
        self.db.unbind_route(app_guid, route_guid)
        if was_bound:
            self.api_lines.route_unmapped(app_guid, self._route_uri(route))
        self._routes_changed(app)

    def delete_route(self, route_guid: str) -> None:
        route = self.get_route(route_guid)
        for app_guid in self.db.delete_route(route_guid):
            app = self.db.get_app(app_guid)
            if app is not None:
                self.api_lines.route_unmapped(app_guid, self._route_uri(route))
                self._routes_changed(app)

    def _route_uri(self, route: Route) -> str:
        domain = self.db.get_domain(route.domain_guid)
        return f"{route.host}.{domain.name}" if domain is not None else route.host

    def _routes_changed(self, app: App) -> None:
        if app.runnable:
            self._submit(app.guid, self.deas.update_uris(app.guid, self.uris(app.guid)), "dea.update")

    # -- messages from the health manager and the DEAs ------------------------------------

    async def on_health_start(self, message: dict) -> None:
        guid = message.get("droplet")
        app = self.db.get_app(guid) if isinstance(guid, str) else None
        if app is None or not app.runnable:
            return
        indices = bus_requests.indices_to_start(message, app)
        if indices:
            log.info("health manager asks to start %s indices %s", app.name, indices)
            await self._locked(app.guid, self._start_indices(app.guid, app.version, indices))
        elif message.get("version") not in (None, app.version):
            log.info("health.start for %s ignored: version %s is not the current %s",
                     app.name, message.get("version"), app.version)

    async def on_health_stop(self, message: dict) -> None:
        guid = message.get("droplet")
        instances = bus_requests.instances_to_stop(message)
        if isinstance(guid, str) and instances:
            log.info("health manager asks to stop %s instances %s", guid, instances)
            await self.deas.stop(guid, instances=instances)

    async def on_droplet_exited(self, message: dict) -> None:
        crash = bus_requests.crash_of(message)
        if crash is not None:
            self.db.record_crash(crash)
            if self.db.get_app(crash.app_guid) is not None:   # no lines for apps this CC does not know
                self.api_lines.crashed(crash)

    def resume(self) -> None:
        """After a restart: finish staging that was cut off."""
        for app in self.db.list_apps():
            if app.state == STARTED and app.package_state == PENDING and app.bits_sha1:
                self._submit(app.guid, self.stager.stage_and_start(app.guid), "resumed staging")

    # -- what the DEAs report about running instances -------------------------------------

    def instances(self, guid: str) -> dict[str, dict]:
        app = self._running_app(guid)
        return instance_views.instances_view(app, self._find(app, include_stats=True), time.time())

    def stats(self, guid: str) -> dict[str, dict]:
        app = self._running_app(guid, stats=True)
        return instance_views.stats_view(app, self._find(app, include_stats=True), self.uris(guid),
                                         self.deas.default_fds)

    def logs(self, guid: str) -> list[dict]:
        return instance_views.logs_view(self._find(self.get(guid), include_logs=True))

    def _find(self, app: App, **include: bool) -> list[dict]:
        return self.loop.run(self.deas.find(app, timeout=self.find_timeout, **include),
                             timeout=self.find_timeout + 10)

    def _running_app(self, guid: str, stats: bool = False) -> App:
        app = self.get(guid)
        if app.state != STARTED:
            if stats:
                raise errors.app_stopped(guid)
            raise errors.ApiError(400, 220001, "CF-InstancesError",
                                  f"Instances error: Request failed for app: {app.name} as the app is in stopped state.")
        if app.package_state == PENDING:
            raise errors.not_staged()
        if app.package_state == FAILED:
            raise errors.staging_error(app.staging_failed_description or "staging failed")
        return app

    # -- the loop side --------------------------------------------------------------------

    def _submit(self, guid: str, coro: Coroutine[Any, Any, Any], what: str) -> None:
        self.loop.submit(self._locked(guid, coro), f"{what} for app {guid}")

    async def _locked(self, guid: str, coro: Coroutine[Any, Any, Any]) -> Any:
        lock = self._app_locks.setdefault(guid, asyncio.Lock())
        async with lock:
            return await coro

    async def _carry_out(self, guid: str, action: convergence.Action) -> None:
        if isinstance(action, convergence.Stage):
            await self.stager.stage_and_start(guid)
        elif isinstance(action, convergence.Start):
            await self._start_indices(guid, action.version, list(action.indices))
        else:
            await self.deas.stop(guid, version=action.version,
                                 indices=list(action.indices) if action.indices is not None else None)

    async def _start_indices(self, guid: str, version: str, indices: list[int]) -> None:
        for index in indices:
            app = self.db.get_app(guid)
            if app is None or not app.runnable or app.version != version or index >= app.instances:
                return
            await self.deas.start_instance(app, index, self.uris(guid))
