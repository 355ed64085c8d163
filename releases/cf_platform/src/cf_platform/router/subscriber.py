"""The router's side of NATS (gorouter mbus/subscriber.go), kept apart from the table.

- ``router.register`` / ``router.unregister`` update the registry; each message names one
  endpoint (host, port) and the uris it serves;
- ``router.start`` is published at start and after every reconnect, so DEAs re-register at
  once instead of waiting for their next interval (the router may have lost its table);
- ``router.greet`` (request/reply) is answered with the same message.

Every field of a register/unregister message is checked (registry.endpoint_from_message,
uris_from_message) before the table changes; a bad message is counted, logged and dropped.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from cf_platform.mbus import Bus
from cf_platform.router.registry import (InvalidRoute, RouteRegistry, endpoint_from_message,
                                         uris_from_message)

log = logging.getLogger(__name__)


class Subscriber:
    """Feeds ``registry`` from NATS; calls ``on_change`` when the endpoint set changed."""

    def __init__(self, bus: Bus, registry: RouteRegistry, greeting: dict[str, Any],
                 on_change: Callable[[], None], clock: Callable[[], float] = time.time) -> None:
        self.bus = bus
        self.registry = registry
        self.greeting = greeting
        self.on_change = on_change
        self.clock = clock
        self.registrations = 0
        self.unregistrations = 0
        self.rejected = 0
        self.announcements = 0

    async def start(self) -> None:
        await self.bus.subscribe("router.register", self._on_register)
        await self.bus.subscribe("router.unregister", self._on_unregister)
        await self.bus.subscribe("router.greet", self._on_greet)
        await self.announce()

    async def announce(self) -> None:
        """Publish router.start (at start, and from the bus's reconnect callback)."""
        await self.bus.publish("router.start", self.greeting)
        self.announcements += 1
        log.info("published router.start %s", self.greeting)

    async def _on_register(self, message: Any, _msg: Any) -> None:
        try:
            uris = uris_from_message(message)
            endpoint = endpoint_from_message(message, self.clock(), self.registry.stale_threshold)
        except InvalidRoute as e:
            self.rejected += 1
            log.warning("dropping a router.register message: %s", e)
            return
        before = self.registry.generation
        refused = self.registry.register(uris, endpoint)
        self.registrations += 1
        if refused:
            self.rejected += 1
            log.warning("ignoring invalid uris %s from %s", [u[:100] for u in refused], endpoint.address)
        if self.registry.generation != before:
            log.info("registered %s for %s", endpoint.address, [u for u in uris if u not in refused])
            self.on_change()

    async def _on_unregister(self, message: Any, _msg: Any) -> None:
        try:
            uris = uris_from_message(message, "router.unregister")
            endpoint = endpoint_from_message(message, self.clock(), where="router.unregister")
        except InvalidRoute as e:
            self.rejected += 1
            log.warning("dropping a router.unregister message: %s", e)
            return
        self.unregistrations += 1
        if self.registry.unregister(uris, endpoint.host, endpoint.port):
            log.info("unregistered %s from %s", endpoint.address, uris)
            self.on_change()

    async def _on_greet(self, _message: dict, msg: Any) -> None:
        await self.bus.reply(msg, self.greeting)

