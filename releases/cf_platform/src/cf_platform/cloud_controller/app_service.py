"""What the cloud controller does when the desired state changes: the app life cycle.

HTTP handlers (threads) call the synchronous methods, which validate and write the
database, then hand the NATS side (staging, starting, stopping) to the loop thread. On the
loop, work for one app runs under that app's lock, so a stop cannot overtake the start it
follows. Every async step re-reads the app first: the user may have changed it meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import Any

from . import errors
from .blobs import Blobstore, file_sha1
from .db import Database, HostTaken, NameTaken, new_guid, now_iso
from .dea_client import DeaClient, StagingFailed
from .loop_thread import LoopThread
from .models import APP_STATES, FAILED, PENDING, STAGED, STARTED, STOPPED, App, Crash, Domain, Route
from .package_check import InvalidPackage, check_zip

log = logging.getLogger(__name__)

MAX_INSTANCES = 1000
#: which of several answers for one index /instances and /stats show: the most alive one
#: (an EVACUATING instance still serves, on a DEA that is draining, until its replacement runs)
STATE_RANK = {"RUNNING": 0, "EVACUATING": 1, "STARTING": 2, "BORN": 3, "CRASHED": 4, "STOPPING": 5,
              "STOPPED": 6}


def _int_field(body: dict, key: str) -> int | None:
    if key not in body or body[key] is None:
        return None
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.app_invalid(f"{key} must be an integer")
    return value


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
        self._mutate = threading.Lock()          # old/new comparisons see a consistent row
        self._app_locks: dict[str, asyncio.Lock] = {}   # touched on the loop thread only

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
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise errors.app_invalid("name is required")
        memory = _int_field(body, "memory") or self.default_memory
        instances = _int_field(body, "instances")
        instances = 1 if instances is None else instances
        disk = _int_field(body, "disk_quota") or self.default_disk
        state = body.get("state") or STOPPED
        self._validate(memory, instances, disk, state)
        environment = self._environment(body.get("environment_json"))
        buildpack = self._buildpack(body.get("buildpack"))
        now = now_iso()
        app = App(guid=new_guid(), name=name.strip(), memory=memory, instances=instances, disk_quota=disk,
                  state=state, package_state=PENDING, version=new_guid(), created_at=now, updated_at=now,
                  buildpack=buildpack, environment=environment)
        with self._mutate:
            if self.db.app_by_name(app.name) is not None:
                raise errors.app_name_taken(app.name)
            try:
                return self.db.create_app(app)
            except NameTaken:
                raise errors.app_name_taken(app.name) from None

    def update(self, guid: str, body: dict) -> App:
        with self._mutate:
            old = self.get(guid)
            changes: dict[str, Any] = {}
            if "name" in body:
                name = body["name"]
                if not isinstance(name, str) or not name.strip():
                    raise errors.app_invalid("name must be a non-empty string")
                other = self.db.app_by_name(name.strip())
                if other is not None and other.guid != guid:
                    raise errors.app_name_taken(name.strip())
                changes["name"] = name.strip()
            memory = _int_field(body, "memory")
            instances = _int_field(body, "instances")
            disk = _int_field(body, "disk_quota")
            state = body.get("state")
            self._validate(memory if memory is not None else old.memory,
                           instances if instances is not None else old.instances,
                           disk if disk is not None else old.disk_quota, state or old.state)
            for key, value in (("memory", memory), ("instances", instances), ("disk_quota", disk), ("state", state)):
                if value is not None and value != getattr(old, key):
                    changes[key] = value
            if "environment_json" in body:
                env = self._environment(body["environment_json"])
                if env != old.environment:
                    changes["environment"] = env
            if "buildpack" in body:
                changes["buildpack"] = self._buildpack(body["buildpack"])
            new_state = changes.get("state", old.state)
            starting = old.state == STOPPED and new_state == STARTED
            if starting and old.bits_sha1 is None:
                raise errors.app_package_invalid("upload the app's bits before starting it")
            restart = old.state == STARTED and new_state == STARTED and (
                "memory" in changes or "environment" in changes or "disk_quota" in changes)
            if starting or restart:
                changes["version"] = new_guid()     # instances of the old version become extras
            if starting and (old.package_state == FAILED or "buildpack" in changes):
                changes.update(package_state=PENDING, staging_failed_reason=None, staging_failed_description=None)
            try:
                new = self.db.update_app(guid, **changes)
            except NameTaken:
                raise errors.app_name_taken(str(changes.get("name"))) from None
            if new is None:
                raise errors.app_not_found(guid)
        self._converge(old, new)
        return new

    def _converge(self, old: App, new: App) -> None:
        """Turn one change of desired state into DEA messages (on the loop)."""
        guid = new.guid
        if old.state == STARTED and new.state == STOPPED:
            self._submit(guid, self.deas.stop(guid), "stop")
            return
        if new.state != STARTED:
            return
        if new.package_state == PENDING:
            if new.bits_sha1 is not None:
                self._submit(guid, self._stage_and_start(guid), "staging")
            return
        if new.package_state != STAGED:
            return
        if old.state == STOPPED or old.version != new.version:
            if old.state == STARTED:
                self._submit(guid, self.deas.stop(guid, version=old.version), "stop old version")
            self._submit(guid, self._start_indices(guid, new.version, list(range(new.instances))), "start")
        elif new.instances > old.instances:
            self._submit(guid, self._start_indices(guid, new.version, list(range(old.instances, new.instances))),
                         "scale up")
        elif new.instances < old.instances:
            self._submit(guid, self.deas.stop(guid, indices=list(range(new.instances, old.instances))), "scale down")

    def delete(self, guid: str) -> None:
        with self._mutate:
            app = self.get(guid)
            self.db.delete_app(guid)
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
            self._submit(guid, self._stage_and_start(guid), "staging")
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
        if not isinstance(host, str) or not host or not _valid_host(host):
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
        self.get_route(route_guid)
        self.db.bind_route(app_guid, route_guid)
        self._routes_changed(app)
        return app

    def unbind_route(self, app_guid: str, route_guid: str) -> None:
        app = self.get(app_guid)
        self.get_route(route_guid)
        self.db.unbind_route(app_guid, route_guid)
        self._routes_changed(app)

    def delete_route(self, route_guid: str) -> None:
        self.get_route(route_guid)
        for app_guid in self.db.delete_route(route_guid):
            app = self.db.get_app(app_guid)
            if app is not None:
                self._routes_changed(app)

    def _routes_changed(self, app: App) -> None:
        if app.runnable:
            self._submit(app.guid, self.deas.update_uris(app.guid, self.uris(app.guid)), "dea.update")

    # -- messages from the health manager and the DEAs ------------------------------------

    async def on_health_start(self, message: dict) -> None:
        guid = message.get("droplet")
        app = self.db.get_app(guid) if isinstance(guid, str) else None
        if app is None or not app.runnable:
            return
        version = message.get("version")
        if version is not None and version != app.version:
            log.info("health.start for %s ignored: version %s is not the current %s", app.name, version, app.version)
            return
        indices = sorted({i for i in message.get("indices") or [] if isinstance(i, int) and 0 <= i < app.instances})
        if indices:
            log.info("health manager asks to start %s indices %s", app.name, indices)
            await self._locked(guid, self._start_indices(guid, app.version, indices))

    async def on_health_stop(self, message: dict) -> None:
        guid = message.get("droplet")
        instances = [i for i in message.get("instances") or [] if isinstance(i, str)]
        if isinstance(guid, str) and instances:
            log.info("health manager asks to stop %s instances %s", guid, instances)
            await self.deas.stop(guid, instances=instances)

    async def on_droplet_exited(self, message: dict) -> None:
        if message.get("reason") != "CRASHED" or not isinstance(message.get("droplet"), str):
            return
        index = message.get("index")
        self.db.record_crash(Crash(
            app_guid=message["droplet"], version=str(message.get("version") or ""),
            instance=str(message.get("instance") or ""), index=index if isinstance(index, int) else -1,
            exit_status=message.get("exit_status") if isinstance(message.get("exit_status"), int) else None,
            exit_description=str(message.get("exit_description") or ""),
            since=float(message.get("crash_timestamp") or time.time())))

    def resume(self) -> None:
        """After a restart: finish staging that was cut off."""
        for app in self.db.list_apps():
            if app.state == STARTED and app.package_state == PENDING and app.bits_sha1:
                self._submit(app.guid, self._stage_and_start(app.guid), "resumed staging")

    # -- what the DEAs report about running instances -------------------------------------

    def instances(self, guid: str) -> dict[str, dict]:
        app = self._running_app(guid)
        replies = self.loop.run(self.deas.find(app, include_stats=True, timeout=self.find_timeout),
                                timeout=self.find_timeout + 10)
        best = _best_by_index(replies)
        now = time.time()
        result: dict[str, dict] = {}
        for index in range(app.instances):
            r = best.get(index)
            if r is None:
                result[str(index)] = {"state": "DOWN", "since": now}
                continue
            stats = r.get("stats") or {}
            result[str(index)] = {"state": r.get("state"), "since": r.get("state_timestamp"),
                                  "host": r.get("host"), "port": r.get("port"), "uptime": stats.get("uptime"),
                                  "instance": r.get("instance"), "dea": r.get("dea")}
        return result

    def stats(self, guid: str) -> dict[str, dict]:
        app = self._running_app(guid, stats=True)
        replies = self.loop.run(self.deas.find(app, include_stats=True, timeout=self.find_timeout),
                                timeout=self.find_timeout + 10)
        best = _best_by_index(replies)
        uris = self.uris(guid)
        result: dict[str, dict] = {}
        for index in range(app.instances):
            r = best.get(index)
            if r is None:
                result[str(index)] = {"state": "DOWN", "stats": {}}
                continue
            s = r.get("stats") or {}
            usage = s.get("usage") or {}
            result[str(index)] = {"state": r.get("state"), "stats": {
                "name": app.name, "uris": uris, "host": r.get("host"), "port": r.get("port"),
                "uptime": s.get("uptime"), "mem_quota": s.get("mem_quota") or app.memory * 1024 * 1024,
                "disk_quota": app.disk_quota * 1024 * 1024, "fds_quota": self.deas.default_fds,
                "usage": {"time": now_iso(), "cpu": usage.get("cpu"), "mem": usage.get("mem"),
                          "disk": usage.get("disk")}}}
        return result

    def logs(self, guid: str) -> list[dict]:
        app = self.get(guid)
        replies = self.loop.run(self.deas.find(app, include_logs=True, timeout=self.find_timeout),
                                timeout=self.find_timeout + 10)
        out = []
        for r in sorted(replies, key=lambda r: (r.get("index", 0), r.get("state_timestamp") or 0)):
            logs = r.get("logs")
            if isinstance(logs, dict):
                stdout, stderr = logs.get("stdout", ""), logs.get("stderr", "")
            else:
                stdout, stderr = r.get("stdout", logs if isinstance(logs, str) else ""), r.get("stderr", "")
            out.append({"index": r.get("index"), "instance": r.get("instance"), "state": r.get("state"),
                        "version": r.get("version"), "stdout": stdout or "", "stderr": stderr or ""})
        return out

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

    def _submit(self, guid: str, coro, what: str) -> None:
        self.loop.submit(self._locked(guid, coro), f"{what} for app {guid}")

    async def _locked(self, guid: str, coro) -> Any:
        lock = self._app_locks.setdefault(guid, asyncio.Lock())
        async with lock:
            return await coro

    async def _stage_and_start(self, guid: str) -> None:
        app = self.db.get_app(guid)
        if app is None or app.state != STARTED or app.package_state != PENDING or not app.bits_sha1:
            return
        staged_bits = app.bits_sha1
        old_version = app.version
        self.db.update_app(guid, staging_log="", staging_task_id=new_guid())
        try:
            result = await self.deas.stage(app)
            droplet = self.blobs.droplet_path(guid)
            if not droplet.exists():
                raise StagingFailed("StagingError", "the DEA reported success but uploaded no droplet", result.log_text)
            sha1 = await asyncio.to_thread(file_sha1, droplet)
            if result.droplet_sha1 and result.droplet_sha1 != sha1:
                log.warning("DEA says droplet sha1 %s, the stored droplet has %s; using the stored one",
                            result.droplet_sha1, sha1)
        except StagingFailed as e:
            log.warning("staging %s failed: %s", app.name, e.description)
            current = self.db.get_app(guid)
            if current is not None and current.bits_sha1 == staged_bits:
                self.db.update_app(guid, package_state=FAILED, staging_failed_reason=e.reason,
                                   staging_failed_description=e.description, staging_log=e.log_text)
            return
        current = self.db.get_app(guid)
        if current is None or current.bits_sha1 != staged_bits:
            return      # deleted, or new bits arrived: their own staging follows
        version = new_guid()
        app = self.db.update_app(guid, package_state=STAGED, droplet_sha1=sha1, version=version,
                                 detected_buildpack=result.detected_buildpack, start_command=result.start_command,
                                 staging_log=result.log_text, staging_failed_reason=None,
                                 staging_failed_description=None)
        log.info("staged %s: buildpack %s, droplet %s", app.name, result.detected_buildpack, sha1)
        await self.deas.stop(guid, version=old_version)   # instances of a previous droplet, if any
        if app.state == STARTED:
            await self._start_indices(guid, version, list(range(app.instances)))

    async def _start_indices(self, guid: str, version: str, indices: list[int]) -> None:
        for index in indices:
            app = self.db.get_app(guid)
            if app is None or not app.runnable or app.version != version or index >= app.instances:
                return
            await self.deas.start_instance(app, index, self.uris(guid))

    # -- validation -----------------------------------------------------------------------

    @staticmethod
    def _validate(memory: int, instances: int, disk: int, state: str) -> None:
        if instances < 0:
            raise errors.app_invalid("instances less than 0")
        if instances > MAX_INSTANCES:
            raise errors.app_invalid(f"instances more than {MAX_INSTANCES}")
        if memory <= 0:
            raise errors.app_invalid("memory must be greater than 0 MB")
        if disk <= 0:
            raise errors.app_invalid("disk_quota must be greater than 0 MB")
        if state not in APP_STATES:
            raise errors.app_invalid(f"state must be one of {', '.join(APP_STATES)}")

    @staticmethod
    def _environment(value: Any) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(isinstance(k, str) and k and "=" not in k for k in value):
            raise errors.app_invalid("environment_json must be an object of variable names to values")
        return {k: v if isinstance(v, str) else str(v) for k, v in value.items()}

    @staticmethod
    def _buildpack(value: Any) -> str | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise errors.app_invalid("buildpack must be a string")
        return value


def _valid_host(host: str) -> bool:
    return len(host) <= 63 and all(c.isalnum() or c == "-" for c in host) and not host.startswith("-") \
        and host.isascii()


def _best_by_index(replies: list[dict]) -> dict[int, dict]:
    """One answer per index: the most alive one (RUNNING over STARTING over CRASHED ...),
    the newest among equals."""
    best: dict[int, dict] = {}
    for r in replies:
        index = r.get("index")
        if not isinstance(index, int):
            continue
        key = (STATE_RANK.get(str(r.get("state")), 9), -(r.get("state_timestamp") or 0))
        current = best.get(index)
        if current is None or key < (STATE_RANK.get(str(current.get("state")), 9),
                                     -(current.get("state_timestamp") or 0)):
            best[index] = r
    return best
