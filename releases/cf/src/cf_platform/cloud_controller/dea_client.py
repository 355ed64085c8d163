"""The cloud controller's side of the DEA protocol on NATS (releases/cf/README.md).

Only message shapes live here; what to send when is the app service's business.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from urllib.parse import quote

import nats.errors

from ..mbus import Bus
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

    async def discover(self, app: App) -> dict | None:
        """The first DEA to answer ``dea.discover`` (the least loaded, by the classic delay)."""
        replies = await self.bus.gather_replies(
            "dea.discover", {"droplet": app.guid, "name": app.name, "runtime": "python",
                             "sha1": app.droplet_sha1, "limits": {"mem": app.memory}},
            timeout=self.discover_timeout, limit=1)
        for reply in replies:
            if isinstance(reply, dict) and reply.get("id"):
                return reply
        return None

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
        if not isinstance(reply, dict):
            raise StagingFailed("StagingError", "the DEA's staging reply is not a JSON object")
        log_text = str(reply.get("log") or "")
        if reply.get("error"):
            raise StagingFailed("StagingError", str(reply["error"]), log_text)
        return StagingResult(reply.get("droplet_sha1"), reply.get("detected_buildpack"),
                             reply.get("start_command"), log_text)

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
            "env": env, "start_command": app.start_command, "services": []})
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
        replies = await self.bus.gather_replies("dea.find.droplet", message, timeout=timeout)
        return [r for r in replies if isinstance(r, dict) and r.get("droplet") == app.guid]
