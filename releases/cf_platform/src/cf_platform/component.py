"""What every Cloud Foundry component shares: a status port and its announcement on NATS.

CF v1's ``VCAP::Component`` (the "common" gem): each component serves ``/healthz`` and
``/varz`` on a port of its own behind basic auth, publishes ``vcap.component.announce``
when it starts and answers ``vcap.component.discover`` with the same document, so an
operator's tool finds every component, its status address and its credentials on the bus.

- :class:`StatusSettings` / :func:`parse_status_settings`: the ``status`` section of a
  component's JSON config (address, port, user, password), checked with errors naming the key;
- :class:`Component`: who this component is (type, index, host, uuid, start) and the
  documents built from that (the announcement, the common part of ``/varz``);
- :class:`StatusServer`: a small asyncio HTTP/1.1 server (stdlib only: this runs on the
  stemcell's python3), bounded in connections, header size and time, with basic auth
  compared in constant time; pages are callbacks, so it holds no state of its own;
- :func:`announce_on`: the NATS side (announce, answer discover);
- :class:`ComponentThread`: both on a loop thread of their own, NATS best effort, for the
  components that serve on threads and can do their work without the bus (UAA, log server).

Which thread: everything here runs on the component's asyncio loop (the router's main loop,
the cloud controller's LoopThread, a ComponentThread); page callbacks must therefore be quick
and non-blocking.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

ANNOUNCE = "vcap.component.announce"
DISCOVER = "vcap.component.discover"

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            405: "Method Not Allowed", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 503: "Service Unavailable"}
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"


class ComponentConfigError(ValueError):
    """The ``status`` section of a component's configuration is malformed."""


@dataclass(frozen=True)
class StatusSettings:
    """Where the status port listens and who may read it. Without user and password the
    protected pages are never served (401), only the open ones."""

    listen_address: str = "0.0.0.0"
    port: int = 8080
    user: str | None = None
    password: str | None = None
    max_connections: int = 32       # a scraper needs one; more are refused with 503
    header_timeout: float = 10.0    # a request's headers are due within this (slowloris)

    @property
    def credentials(self) -> tuple[str, str] | None:
        return (self.user, self.password) if self.user and self.password else None


def parse_status_settings(raw: Any, where: str = "status") -> StatusSettings:
    """``raw`` as decoded from JSON (None: defaults); every error names ``where.key``."""
    if raw is None:
        return StatusSettings()
    if not isinstance(raw, dict):
        raise ComponentConfigError(f"{where}: expected an object")
    known = set(StatusSettings.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise ComponentConfigError(f"{where}: unknown keys {sorted(unknown)}")
    values = {k: v for k, v in raw.items() if v is not None}
    kinds: dict[str, tuple[type, ...]] = {"listen_address": (str,), "port": (int,), "user": (str,),
                                          "password": (str,), "max_connections": (int,),
                                          "header_timeout": (int, float)}
    for key, value in values.items():
        if not isinstance(value, kinds[key]) or isinstance(value, bool):
            raise ComponentConfigError(f"{where}.{key}: expected {kinds[key][0].__name__}, not {value!r}")
    settings = StatusSettings(**values)
    if not 0 <= settings.port <= 65535:
        raise ComponentConfigError(f"{where}.port: {settings.port} is not a TCP port")
    if bool(settings.user) != bool(settings.password):
        raise ComponentConfigError(f"{where}.user and {where}.password go together")
    if settings.user is not None and ":" in settings.user:
        raise ComponentConfigError(f"{where}.user: basic auth user names cannot contain ':'")
    if settings.max_connections < 1 or settings.header_timeout <= 0:
        raise ComponentConfigError(f"{where}: max_connections and header_timeout must be positive")
    return settings


def parse_nats_settings(raw: Any, where: str = "nats") -> Any:
    """The ``nats`` section of a component for which the bus is optional (an optional ``nats``
    link: the UAA, the log server): None when absent, else a :class:`cf_platform.mbus.NatsConfig`
    with at least one ``nats://`` server; every error names ``where.key``."""
    if raw is None:
        return None
    # nats-py only for a component with a bus
    from .mbus import NatsConfig, inbox_prefix
    if not isinstance(raw, dict):
        raise ComponentConfigError(f"{where}: expected an object")
    unknown = set(raw) - {"servers", "user", "password"}
    if unknown:
        raise ComponentConfigError(f"{where}: unknown keys {sorted(unknown)}")
    servers = raw.get("servers")
    if not isinstance(servers, list) or not servers:
        raise ComponentConfigError(f"{where}.servers: expected a list of nats:// URLs")
    for i, server in enumerate(servers):
        if not isinstance(server, str) or not server.startswith(("nats://", "tls://")):
            raise ComponentConfigError(f"{where}.servers[{i}]: expected a nats:// URL, not {server!r}")
    user, password = raw.get("user") or None, raw.get("password") or None
    for key, value in (("user", user), ("password", password)):
        if value is not None and not isinstance(value, str):
            raise ComponentConfigError(f"{where}.{key}: expected str")
    if bool(user) != bool(password):
        raise ComponentConfigError(f"{where}.user and {where}.password go together")
    try:
        inbox_prefix(user)
    except ValueError as e:
        raise ComponentConfigError(f"{where}.user: {e}") from None
    return NatsConfig(list(servers), user, password)


def parse_index(raw: Any, where: str = "index") -> int:
    """The job's instance index (spec.index), announced as the component's ``index``."""
    if raw is None:
        return 0
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 0:
        raise ComponentConfigError(f"{where}: expected an integer >= 0, not {raw!r}")
    return raw


def _uptime_text(seconds: float) -> str:
    """CF v1's uptime string: ``1d:2h:3m:4s``."""
    s = int(seconds)
    return f"{s // 86400}d:{s % 86400 // 3600}h:{s % 3600 // 60}m:{s % 60}s"


def _rss_kib() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return 0


@dataclass
class Component:
    """This process as CF v1's component registry knows it."""

    type: str                        # "Router", "CloudController", "DEA", "HealthManager"
    index: int
    ip: str                          # the VM's address: host = ip:status port
    status: StatusSettings
    uuid: str = field(default_factory=lambda: uuid.uuid4().hex)
    start: float = field(default_factory=time.time)
    _cpu_mark: tuple[float, float] = field(default=(0.0, 0.0), repr=False)

    @property
    def host(self) -> str:
        return f"{self.ip}:{self.status.port}"

    def uptime(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.start)

    def announcement(self, now: float | None = None) -> dict[str, Any]:
        """``vcap.component.announce`` and the answer to ``vcap.component.discover``."""
        return {"type": self.type, "index": self.index, "host": self.host,
                "credentials": list(self.status.credentials or ("", "")), "uuid": self.uuid,
                "start": time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(self.start)),
                "uptime": _uptime_text(self.uptime(now))}

    def varz(self, counters: dict[str, Any]) -> dict[str, Any]:
        """The common part of /varz (CF v1's keys) with the component's own counters."""
        doc = {k: v for k, v in self.announcement().items() if k != "credentials"}
        doc.update({"num_cores": os.cpu_count() or 1, "mem": _rss_kib(), "cpu": self._cpu_percent(),
                    "uptime_seconds": round(self.uptime(), 1)})
        doc.update(counters)
        return doc

    def _cpu_percent(self) -> float:
        """CPU use since the previous /varz (since start on the first), in % of one core."""
        times = os.times()
        used, wall = times.user + times.system, time.monotonic()
        last_used, last_wall = self._cpu_mark
        if last_wall == 0.0:
            last_used, last_wall = 0.0, wall - max(self.uptime(), 1e-3)
        self._cpu_mark = (used, wall)
        return round(100.0 * (used - last_used) / max(wall - last_wall, 1e-3), 1)


class ResponseCounts:
    """Responses by status class, counted from any thread (the CC's HTTP threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = {"1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}

    def record(self, status: int) -> None:
        klass = f"{status // 100}xx"
        with self._lock:
            if klass in self._counts:
                self._counts[klass] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


Reply = tuple[int, str, bytes]          # status, content type, body


@dataclass(frozen=True)
class Page:
    """One path of the status port; ``render`` runs on the loop for each request."""

    render: Callable[[], Reply]
    protected: bool = True


def json_page(document: Callable[[], Any]) -> Page:
    return Page(lambda: (200, JSON, json.dumps(document()).encode() + b"\n"))


def health_page(unhealthy: Callable[[], str | None], protected: bool = True) -> Page:
    """200 ``ok``, or 503 with why not (``draining``, ``NATS is not connected``...)."""
    def render() -> Reply:
        problem = unhealthy()
        return (503 if problem else 200, TEXT, (problem or "ok").encode() + b"\n")
    return Page(render, protected)


def component_pages(component: Component, counters: Callable[[], dict[str, Any]],
                    unhealthy: Callable[[], str | None]) -> dict[str, Page]:
    """CF v1's two pages, both behind basic auth as VCAP::Component served them."""
    return {"/healthz": health_page(unhealthy), "/varz": json_page(lambda: component.varz(counters()))}


class StatusServer:
    """A status port: GET/HEAD of ``pages``; protected ones need the configured basic auth.

    Bounded so a scraper (or an attacker on the VM network) cannot tie the component up:
    at most ``max_connections`` at once (more get 503 and are closed), request heads of at
    most 16 KiB, due within ``header_timeout``; request bodies are never read."""

    HEAD_LIMIT = 16 * 1024

    def __init__(self, settings: StatusSettings, pages: dict[str, Page], realm: str) -> None:
        self.settings = settings
        self.pages = pages
        self.realm = realm
        self._server: asyncio.AbstractServer | None = None
        self._open = 0
        self.refused = 0

    @property
    def port(self) -> int:
        """The bound port (the configured one, or the kernel's pick for port 0)."""
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self.settings.port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.settings.listen_address,
                                                  self.settings.port, limit=self.HEAD_LIMIT)
        log.info("status server on %s:%d", self.settings.listen_address, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open += 1
        try:
            if self._open > self.settings.max_connections:
                self.refused += 1
                self._write(writer, 503, TEXT, b"too many connections\n", keep_alive=False)
                await writer.drain()
                # read what the client sent (for at most a second): closing on unread bytes
                # resets the connection, and the client would never see the 503
                writer.write_eof()
                with contextlib.suppress(asyncio.TimeoutError, ConnectionError, ValueError):
                    await asyncio.wait_for(reader.read(self.HEAD_LIMIT), 1.0)
                return
            while True:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.settings.header_timeout)
                except asyncio.LimitOverrunError:
                    self._write(writer, 431, TEXT, b"request head too large\n", keep_alive=False)
                    await writer.drain()
                    return
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, ValueError):
                    return
                keep_alive = self._respond(head.decode("latin-1"), writer)
                await writer.drain()
                if not keep_alive:
                    return
        except ConnectionError:
            return
        finally:
            self._open -= 1
            writer.close()

    def _respond(self, head: str, writer: asyncio.StreamWriter) -> bool:
        lines = head.split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            self._write(writer, 400, TEXT, b"bad request\n", keep_alive=False)
            return False
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in headers:
            keep_alive = False  # bodies are never read here: do not take one for the next request
        page = self.pages.get(target.split("?", 1)[0])
        head_only = method == "HEAD"
        if method not in ("GET", "HEAD"):
            self._write(writer, 405, TEXT, b"method not allowed\n", keep_alive, extra={"Allow": "GET, HEAD"})
        elif page is None:
            self._write(writer, 404, TEXT, b"404 Not Found\n", keep_alive, head_only=head_only)
        elif page.protected and not self.authorized(headers.get("authorization", "")):
            self._write(writer, 401, TEXT, b"401 Unauthorized\n", keep_alive, head_only=head_only,
                        extra={"WWW-Authenticate": f'Basic realm="{self.realm}"'})
        else:
            try:
                status, content_type, body = page.render()
            except Exception:  # a broken page must not take the port down
                log.exception("status page %s failed", target)
                status, content_type, body = 500, TEXT, b"internal error\n"
            self._write(writer, status, content_type, body, keep_alive, head_only=head_only)
        return keep_alive

    def authorized(self, header: str) -> bool:
        """Basic auth, both parts compared in constant time; never with no credentials set."""
        credentials = self.settings.credentials
        if credentials is None:
            return False
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return False
        good_user = hmac.compare_digest(user.encode(), credentials[0].encode())
        good_password = hmac.compare_digest(password.encode(), credentials[1].encode())
        return good_user and good_password

    @staticmethod
    def _write(writer: asyncio.StreamWriter, status: int, content_type: str, body: bytes,
               keep_alive: bool, head_only: bool = False, extra: dict[str, str] | None = None) -> None:
        headers = {"Content-Type": content_type, "Content-Length": str(len(body)),
                   "Connection": "keep-alive" if keep_alive else "close", **(extra or {})}
        head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        writer.write(head.encode("latin-1") + (b"" if head_only else body))


async def start_component(bus: Any, component: Component, counters: Callable[[], dict[str, Any]],
                          unhealthy: Callable[[], str | None], realm: str) -> StatusServer:
    """The whole CF v1 wiring of a component, on its loop: the status port with /healthz and
    /varz, then the announcement (whose host names that port). Stop the returned server
    on the way out; after a NATS reconnect call :func:`announce_again`."""
    server = StatusServer(component.status, component_pages(component, counters, unhealthy), realm)
    await server.start()
    try:
        await announce_on(bus, component)
    except BaseException:
        await server.stop()
        raise
    return server


async def announce_on(bus: Any, component: Component) -> None:
    """Answer ``vcap.component.discover`` and publish ``vcap.component.announce``.

    ``bus`` is a :class:`cf_platform.mbus.Bus`. The answer carries the status credentials,
    as CF v1's did: the NATS permissions decide who may read it (docs/metrics.md). Call it
    again after a reconnect to announce again (the subscription survives reconnects)."""
    async def on_discover(_message: dict, msg: Any) -> None:
        await bus.reply(msg, component.announcement())

    await bus.subscribe(DISCOVER, on_discover)
    await announce_again(bus, component)


async def announce_again(bus: Any, component: Component) -> None:
    await bus.publish(ANNOUNCE, component.announcement())
    log.info("announced %s/%d on %s (status %s)", component.type, component.index, ANNOUNCE, component.host)


class ComponentThread:
    """CF v1's component wiring for a server that serves on threads of its own (the UAA and
    the log server run the stdlib's ThreadingHTTPServer), so it has no asyncio loop to lend:
    the status port and the NATS side run on a loop of their own, on a daemon thread.

    NATS is best effort here: those components do their work without the bus, so an
    unreachable nats-server must neither delay their start nor stop them. The connection is
    made in the background (retried every half second until a server answers), the
    announcement follows it, and every reconnect announces again; ``nats_status`` says how it
    goes (``nats`` in /varz). Without ``nats`` (no link) only the status port is served.

    Page callbacks (``counters``, ``unhealthy``) run on this thread: they must be quick and
    safe to call beside the server's own threads."""

    STOP_TIMEOUT = 5.0

    def __init__(self, component: Component, counters: Callable[[], dict[str, Any]],
                 unhealthy: Callable[[], str | None], realm: str, nats: Any | None = None,
                 client_name: str = "cf-component") -> None:
        self.component = component
        self.nats = nats                    # a cf_platform.mbus.NatsConfig, or None
        self.client_name = client_name
        self.server = StatusServer(component.status, component_pages(component, self._with_nats(counters),
                                                                     unhealthy), realm)
        self.bus: Any = None
        self.announcements = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"{realm}-status", daemon=True)
        self._connecting: asyncio.Task | None = None

    @property
    def port(self) -> int:
        return self.server.port

    def start(self) -> None:
        """Bind the status port (an ``OSError`` when it is taken, as the server's own port would
        raise), then start connecting to NATS in the background; returns at once."""
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(self.STOP_TIMEOUT)
        except BaseException:
            self._end_loop()
            raise
        if self.nats is not None:
            self._loop.call_soon_threadsafe(self._begin_connecting)

    def nats_status(self) -> dict[str, Any]:
        """For /varz: whether the announcement can reach anyone now, and how often it was made."""
        connected = self.bus is not None and bool(self.bus.client.is_connected)
        return {"connected": connected, "announcements": self.announcements}

    def _with_nats(self, counters: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
        def with_nats() -> dict[str, Any]:
            found = counters()
            return {**found, "nats": self.nats_status()} if self.nats is not None else found
        return with_nats

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(self.STOP_TIMEOUT * 2)
        except Exception:  # stopping anyway
            log.warning("status port or NATS close failed", exc_info=True)
        self._end_loop()

    def _begin_connecting(self) -> None:
        self._connecting = self._loop.create_task(self._connect())

    async def _connect(self) -> None:
        """Connect (nats-py retries the first connection too, without end), then announce.
        Never raises: a failure is logged, and the server it belongs to serves on."""
        from .mbus import Bus  # nats-py only when there is a bus to talk to
        log.info("connecting to NATS at %s (in the background)", ", ".join(self.nats.servers))
        try:
            self.bus = await Bus.connect(self.nats.servers, self.nats.user, self.nats.password,
                                         name=self.client_name, on_reconnect=self._announce_again)
            await announce_on(self.bus, self.component)
            await self.bus.client.flush()
            self.announcements += 1
        except asyncio.CancelledError:
            raise
        except Exception:  # the connection lost at once: the next reconnect announces again
            log.warning("NATS connection or announcement failed", exc_info=True)

    async def _announce_again(self) -> None:
        try:
            await announce_again(self.bus, self.component)
            self.announcements += 1
        except Exception:  # the next reconnect tries again; the server goes on serving
            log.warning("announcement after a NATS reconnect failed", exc_info=True)

    async def _close(self) -> None:
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
            await asyncio.gather(self._connecting, return_exceptions=True)
        await self.server.stop()
        if self.bus is not None:
            try:
                await asyncio.wait_for(self.bus.close(), self.STOP_TIMEOUT)
            except Exception:  # cannot drain (NATS is down): close it, ending its reconnects
                log.info("NATS connection not drained; closing it", exc_info=True)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.bus.client.close(), self.STOP_TIMEOUT)

    def _end_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(self.STOP_TIMEOUT)
        if not self._thread.is_alive():
            self._loop.close()
