"""The routes table: route (host[/path]) → endpoints, kept apart from NATS and nginx.

Why a separate, pure module: gorouter keeps its registry independent of the message bus
so it can be tested and reasoned about alone; here the same table also feeds the nginx
renderer and ``/routes``. Time is passed in (``now``) so pruning is testable without sleeps.

Semantics follow gorouter (REFERENCE.md section 8):

- ``register`` adds or refreshes the endpoint ``host:port`` under each uri; a refresh of an
  existing endpoint updates its details and ``updated_at``.
- ``unregister`` removes ``host:port`` from each uri; a route without endpoints goes away.
- ``prune`` drops endpoints not refreshed within their stale threshold (the router's
  ``droplet_stale_threshold``, 120 s, or the message's shorter
  ``stale_threshold_in_seconds``: never longer, so no registration lives forever).
- ``lookup`` picks an endpoint round robin (used by tests and any Python data plane; nginx
  does its own round robin over the same endpoints).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from cf_platform.messages import Fields, MessageError, PRINTABLE_RE

# Route hosts become nginx server_names and paths nginx location prefixes: only characters
# that cannot change the meaning of the rendered configuration are accepted, always with
# fullmatch (``$`` would let "host\n/x" through, and nginx would refuse the whole file).
_HOST_RE = re.compile(r"(\*\.)?[a-z0-9]([a-z0-9-]{0,62})(\.[a-z0-9]([a-z0-9-]{0,62}))*")
_PATH_RE = re.compile(r"(/[A-Za-z0-9._~%!*+,=:@-]+)+")
_ENDPOINT_HOST_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})")
_TAG_KEY_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{0,128}")
MAX_URI = 1024           # characters of one route uri
MAX_URIS = 100           # uris in one message
MAX_PATH = 512           # characters of a route path


class InvalidRoute(ValueError):
    """A uri or endpoint that the router refuses (it would be unsafe or meaningless)."""


@dataclass(frozen=True, order=True)
class RouteKey:
    """A route: a lower-case host (maybe ``*.domain``) and an optional path prefix."""

    host: str
    path: str = ""

    def __str__(self) -> str:
        return self.host + self.path

    @classmethod
    def parse(cls, uri: str) -> "RouteKey":
        """``Hello.Example.com/api/`` → ("hello.example.com", "/api"); raises InvalidRoute."""
        if not isinstance(uri, str):
            raise InvalidRoute(f"uri must be a string, not {type(uri).__name__}")
        text = uri.strip()
        for scheme in ("http://", "https://"):
            if text.lower().startswith(scheme):
                text = text[len(scheme):]
        host, slash, path = text.partition("/")
        if len(text) > MAX_URI:
            raise InvalidRoute(f"route uri longer than {MAX_URI} characters")
        host = host.lower().rstrip(".")
        if ":" in host:  # a port in a route uri means nothing to the router
            host = host.split(":", 1)[0]
        path = ("/" + path).rstrip("/") if slash else ""
        if not _HOST_RE.fullmatch(host) or len(host) > 253:
            raise InvalidRoute(f"invalid route host in uri {uri[:100]!r}")
        if path and (not _PATH_RE.fullmatch(path) or len(path) > MAX_PATH
                     or any(part in (".", "..") for part in path.split("/"))):
            raise InvalidRoute(f"invalid route path in uri {uri[:100]!r}")
        return cls(host, path)


@dataclass
class Endpoint:
    """One backend (an app instance) of a route."""

    host: str
    port: int
    app: str = ""
    private_instance_id: str = ""
    private_instance_index: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    stale_threshold: float | None = None  # per-endpoint override, seconds
    updated_at: float = 0.0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "app": self.app,
                "private_instance_id": self.private_instance_id,
                "private_instance_index": self.private_instance_index,
                "tags": dict(self.tags), "updated_at": self.updated_at,
                "stale_threshold_in_seconds": self.stale_threshold}


def endpoint_from_message(message: Any, now: float, max_stale: float | None = None,
                          where: str = "router.register") -> Endpoint:
    """Validate the endpoint part of a router.register/unregister message.

    Every field is checked; a bad one refuses the whole message (InvalidRoute). A
    ``stale_threshold_in_seconds`` above ``max_stale`` (the router's own threshold) is
    capped to it, as gorouter caps every route's TTL: a registration cannot outlive the
    pruning that would remove it."""
    try:
        fields = Fields(message, where)
        host = fields.text("host", _ENDPOINT_HOST_RE, 253)
        port = fields.integer("port", 1, 65535)
        app = fields.text("app", _ID_RE, 128, required=False, default="")
        instance_id = fields.text("private_instance_id", _ID_RE, 128, required=False, default="")
        index = fields.integer("private_instance_index", 0, 100_000, required=False)
        tags = fields.string_map("tags", _TAG_KEY_RE, PRINTABLE_RE, max_items=32, max_len=256)
        stale = fields.number("stale_threshold_in_seconds", 0, 1e9, required=False)
    except MessageError as e:
        raise InvalidRoute(str(e)) from None
    assert host is not None and port is not None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host.replace(".", "").isdigit():
            raise InvalidRoute(f"{where}: 'host' is not a valid address: {host!r}") from None
    if stale is not None and stale <= 0:
        stale = None
    if stale is not None and max_stale is not None:
        stale = min(stale, max_stale)
    return Endpoint(host=host, port=port, app=app or "", private_instance_id=instance_id or "",
                    private_instance_index=index, tags=tags, stale_threshold=stale, updated_at=now)


def uris_from_message(message: dict[str, Any], where: str = "router.register") -> list[str]:
    """The ``uris`` of a register/unregister message: a list of at most MAX_URIS strings (each
    is then parsed on its own, and an invalid one refused without refusing the others)."""
    try:
        uris = Fields(message, where).texts("uris", PRINTABLE_RE, MAX_URI, MAX_URIS, required=True)
    except MessageError as e:
        raise InvalidRoute(str(e)) from None
    assert uris is not None
    return uris


@dataclass
class _Pool:
    """The endpoints of one route, in registration order, and the round-robin cursor."""

    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    cursor: int = 0

    def next(self) -> Endpoint | None:
        if not self.endpoints:
            return None
        items = list(self.endpoints.values())
        endpoint = items[self.cursor % len(items)]
        self.cursor = (self.cursor + 1) % len(items)
        return endpoint


class RouteRegistry:
    """The routes table. Not thread-safe: the router uses it from one asyncio loop."""

    def __init__(self, stale_threshold: float = 120.0) -> None:
        self.stale_threshold = stale_threshold
        self._pools: dict[RouteKey, _Pool] = {}
        self.generation = 0  # bumped on every change that alters the endpoint set

    # --- changes -------------------------------------------------------------------------

    def register(self, uris: Iterable[str], endpoint: Endpoint) -> list[str]:
        """Add or refresh ``endpoint`` under each uri; returns the uris refused as invalid."""
        refused: list[str] = []
        for uri in uris:
            try:
                key = RouteKey.parse(uri)
            except InvalidRoute:
                refused.append(str(uri))
                continue
            pool = self._pools.setdefault(key, _Pool())
            old = pool.endpoints.get(endpoint.address)
            if old is None or _details(old) != _details(endpoint):
                self.generation += 1
            pool.endpoints[endpoint.address] = _copy(endpoint)
        return refused

    def unregister(self, uris: Iterable[str], host: str, port: int) -> int:
        """Remove ``host:port`` from each uri; returns how many endpoints went away."""
        address = f"{host}:{int(port)}"
        removed = 0
        for uri in uris:
            try:
                key = RouteKey.parse(uri)
            except InvalidRoute:
                continue
            pool = self._pools.get(key)
            if pool is not None and pool.endpoints.pop(address, None) is not None:
                removed += 1
                if not pool.endpoints:
                    del self._pools[key]
        if removed:
            self.generation += 1
        return removed

    def remove_route(self, key: RouteKey) -> bool:
        """Forget a route and all its endpoints (the data plane refused it)."""
        if self._pools.pop(key, None) is None:
            return False
        self.generation += 1
        return True

    def prune(self, now: float) -> list[tuple[str, str]]:
        """Drop endpoints not refreshed within their threshold; returns (uri, address) pairs."""
        pruned: list[tuple[str, str]] = []
        for key in list(self._pools):
            pool = self._pools[key]
            for address, endpoint in list(pool.endpoints.items()):
                # a message's own threshold may only shorten the router's (gorouter's max TTL)
                threshold = min(endpoint.stale_threshold or self.stale_threshold, self.stale_threshold)
                if now - endpoint.updated_at > threshold:
                    del pool.endpoints[address]
                    pruned.append((str(key), address))
            if not pool.endpoints:
                del self._pools[key]
        if pruned:
            self.generation += 1
        return pruned

    # --- queries -------------------------------------------------------------------------

    def lookup(self, host: str, path: str = "/") -> Endpoint | None:
        """The next endpoint (round robin) for a request's Host header and path.

        Exact host beats a wildcard (``*.domain``, the most specific one wins); within a
        host the longest matching path prefix wins, as in gorouter."""
        name = host.lower().split(":", 1)[0].rstrip(".")
        candidates = [name]
        labels = name.split(".")
        candidates += ["*." + ".".join(labels[i:]) for i in range(1, len(labels))]
        for candidate in candidates:
            pool = self._match_path(candidate, path)
            if pool is not None:
                return pool.next()
        return None

    def _match_path(self, host: str, path: str) -> _Pool | None:
        best: tuple[int, _Pool] | None = None
        for key, pool in self._pools.items():
            if key.host != host:
                continue
            if key.path and not (path == key.path or path.startswith(key.path + "/")):
                continue
            if best is None or len(key.path) > best[0]:
                best = (len(key.path), pool)
        return best[1] if best else None

    def routes(self) -> dict[RouteKey, list[Endpoint]]:
        """A copy of the table, routes sorted, endpoints in registration order."""
        return {key: [_copy(e) for e in self._pools[key].endpoints.values()]
                for key in sorted(self._pools)}

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """The table as gorouter's ``/routes`` shows it: uri → endpoints."""
        return {str(key): [e.to_json() for e in endpoints]
                for key, endpoints in self.routes().items()}

    def __len__(self) -> int:
        return len(self._pools)


def _details(endpoint: Endpoint) -> tuple:
    """What, when it changes, changes the rendered data plane (updated_at does not)."""
    return (endpoint.app, endpoint.private_instance_id, endpoint.private_instance_index,
            tuple(sorted(endpoint.tags.items())), endpoint.stale_threshold)


def _copy(endpoint: Endpoint) -> Endpoint:
    return Endpoint(endpoint.host, endpoint.port, endpoint.app, endpoint.private_instance_id,
                    endpoint.private_instance_index, dict(endpoint.tags),
                    endpoint.stale_threshold, endpoint.updated_at)
