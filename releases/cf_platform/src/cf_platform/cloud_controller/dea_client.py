"""The cloud controller's side of the DEA protocol on NATS (releases/cf/README.md).

Only message shapes live here; what to send when is the app service's business.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import quote

import nats.errors

from ..mbus import Bus
from ..messages import MessageError
from .messages import parse_discover_reply, parse_find_reply, parse_staging_reply
from .models import App

log = logging.getLogger(__name__)


class StagingFailed(Exception):
    def __init__(self, reason: str, description: str, log_text: str = "") -> None:
        super().__init__(description)
        self.reason = reason
        self.description = description
        self.log_text = log_text


@dataclass(frozen=True)
class StagingResult:
    droplet_sha1: str | None
    detected_buildpack: str | None
    start_command: str | None
    log_text: str


@dataclass(frozen=True)
class InternalUrls:
    """Absolute URLs with the internal credentials embedded, as DEAs fetch them."""
    host: str
    port: int
    user: str
    password: str

    def _base(self) -> str:
        return f"http://{quote(self.user, safe='')}:{quote(self.password, safe='')}@{self.host}:{self.port}"

    def bits(self, guid: str) -> str:
        return f"{self._base()}/internal/apps/{guid}/bits"

    def droplet(self, guid: str) -> str:
        return f"{self._base()}/internal/apps/{guid}/droplet"


class DeaClient:
    def __init__(self, bus: Bus, urls: InternalUrls, discover_timeout: float, staging_timeout: float,
                 default_fds: int = 16384) -> None:
        self.bus = bus
        self.urls = urls
        self.discover_timeout = discover_timeout
        self.staging_timeout = staging_timeout
        self.default_fds = default_fds
        # an app's bound services for its start message (services/wiring.py plugs this in)
        self.services_for: Callable[[str], list[dict]] = lambda _app_guid: []

    async def discover(self, app: App) -> dict | None:
        """The first DEA to answer ``dea.discover`` with a valid reply (the least loaded, by the
        classic delay). Malformed answers are dropped and the wait goes on, so a bad answer
        arriving first can neither be taken for a DEA nor hide the real ones."""
        payload = {"droplet": app.guid, "name": app.name, "runtime": "python", "sha1": app.droplet_sha1,
                   "limits": {"mem": app.memory}}
        found = await self._gather("dea.discover", payload, parse_discover_reply, self.discover_timeout, limit=1)
        return found[0] if found else None

    async def _gather(self, subject: str, payload: dict, parse: Callable[[Any], dict], timeout: float,
                      limit: int | None = None) -> list[dict]:
        """Publish with a reply inbox; collect the replies that ``parse`` accepts until
        ``timeout`` or ``limit`` of them (a malformed one is logged and dropped)."""
        client = self.bus.client
        inbox = client.new_inbox()
        subscription = await client.subscribe(inbox)
        found: list[dict] = []
        try:
            await self.bus.publish(subject, payload, reply=inbox)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while (limit is None or len(found) < limit) and (remaining := deadline - loop.time()) > 0:
                try:
                    msg = await subscription.next_msg(timeout=remaining)
                except (nats.errors.TimeoutError, asyncio.TimeoutError, TimeoutError):
                    break
                found += _valid([_json(msg.data)], parse)
        finally:
            await subscription.unsubscribe()
        return found

    async def stage(self, app: App) -> StagingResult:
        dea = await self.discover(app)
        if dea is None:
            raise StagingFailed("NoAvailableDEA",
                                "no DEA answered dea.discover: none is running, or none has room "
                                f"for {app.memory} MB")
        bits, droplet = self.urls.bits(app.guid), self.urls.droplet(app.guid)
        # bits_uri/droplet_upload_uri are the contract; download_uri/upload_uri are the names the
        # README's overview uses, sent too so either reading of it works.
        payload = {"app_id": app.guid, "name": app.name, "bits_uri": bits, "droplet_upload_uri": droplet,
                   "download_uri": bits, "upload_uri": droplet, "buildpack": app.buildpack,
                   "limits": {"mem": app.memory, "disk": app.disk_quota}}
        log.info("staging %s (%s) on DEA %s", app.name, app.guid, dea["id"])
        try:
            reply = await self.bus.request(f"staging.{dea['id']}.start", payload, timeout=self.staging_timeout)
        except (nats.errors.TimeoutError, asyncio.TimeoutError, TimeoutError):
            raise StagingFailed("StagingTimeExpired",
                                f"staging on DEA {dea['id']} did not finish within {self.staging_timeout:g} s") from None
        except nats.errors.NoRespondersError:
            raise StagingFailed("StagingError", f"DEA {dea['id']} went away before staging") from None
        except (ValueError, RecursionError):
            raise StagingFailed("StagingError", f"DEA {dea['id']} answered with something that is not JSON") from None
        try:
            checked = parse_staging_reply(reply)
        except MessageError as e:
            raise StagingFailed("StagingError", f"the DEA's staging reply is malformed: {e}") from None
        if checked.get("error"):
            raise StagingFailed("StagingError", checked["error"], checked["log"])
        return StagingResult(checked["droplet_sha1"], checked["detected_buildpack"],
                             checked["start_command"], checked["log"])

    async def start_instance(self, app: App, index: int, uris: list[str]) -> str | None:
        """Place one instance; returns the DEA id, or None when no DEA answered."""
        dea = await self.discover(app)
        if dea is None:
            log.warning("no DEA for %s index %d; the health manager will ask again", app.name, index)
            return None
        env = [f"{k}={v}" for k, v in sorted(app.environment.items())]
        await self.bus.publish(f"dea.{dea['id']}.start", {
            "droplet": app.guid, "name": app.name, "uris": uris, "version": app.version, "index": index,
            "sha1": app.droplet_sha1, "droplet_uri": self.urls.droplet(app.guid),
            "limits": {"mem": app.memory, "disk": app.disk_quota, "fds": self.default_fds},
            "env": env, "start_command": app.start_command, "services": self.services_for(app.guid)})
        log.info("asked DEA %s to start %s index %d (version %s)", dea["id"], app.name, index, app.version)
        return str(dea["id"])

    async def stop(self, droplet: str, *, version: str | None = None, indices: list[int] | None = None,
                   instances: list[str] | None = None) -> None:
        message: dict = {"droplet": droplet}
        if version is not None:
            message["version"] = version
        if indices is not None:
            message["indices"] = indices
        if instances is not None:
            message["instances"] = instances
        await self.bus.publish("dea.stop", message)

    async def update_uris(self, droplet: str, uris: list[str]) -> None:
        await self.bus.publish("dea.update", {"droplet": droplet, "uris": uris})

    async def find(self, app: App, *, include_stats: bool = False, include_logs: bool = False,
                   timeout: float = 1.0) -> list[dict]:
        message: dict = {"droplet": app.guid, "version": app.version}
        if include_stats:
            message["include_stats"] = True
        if include_logs:
            message["include_logs"] = True
        replies = await self._gather("dea.find.droplet", message, parse_find_reply, timeout)
        return [r for r in replies if r["droplet"] == app.guid]


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def _valid(replies: list[Any], parse: Callable[[Any], dict]) -> list[dict]:
    """The replies that parse; each malformed one is logged (one line) and dropped."""
    valid = []
    for reply in replies:
        try:
            valid.append(parse(reply))
        except MessageError as e:
            log.warning("dropping a reply: %s", e)
    return valid
