"""NATS for the platform's components: connect with reconnects forever, JSON in and out.

Every component (router, DEA, cloud controller, health manager) finds the others through
NATS with the classic Cloud Foundry subjects (router.register, dea.advertise, ...); this
module keeps the plumbing in one place so each component only says what it publishes and
what it listens to.

Each component has its own NATS user whose permissions list the subjects it may publish and
subscribe to (releases/cf/README.md). Replies to a component's requests arrive on inboxes
under ``_INBOX.<user>.``, so its user may subscribe to its own replies and no one else's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

log = logging.getLogger(__name__)

JsonHandler = Callable[[dict, Msg], Awaitable[None]]

DEFAULT_INBOX_PREFIX = "_INBOX"
_SUBJECT_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


def inbox_prefix(user: str | None) -> str:
    """Where replies to this user's requests arrive: ``_INBOX.<user>`` (a permission can then
    allow the user its own replies only); ``_INBOX`` without a user."""
    if not user:
        return DEFAULT_INBOX_PREFIX
    if not _SUBJECT_TOKEN.fullmatch(user):
        raise ValueError(f"NATS user {user!r} cannot name its reply inbox {DEFAULT_INBOX_PREFIX}.<user>: "
                         "use letters, digits, '_' and '-' only")
    return f"{DEFAULT_INBOX_PREFIX}.{user}"


@dataclass(frozen=True)
class NatsConfig:
    """The `nats` section every component's config file has (from the `nats` link)."""

    servers: list[str]
    user: str | None = None
    password: str | None = None


class Bus:
    """A connected NATS client speaking JSON."""

    def __init__(self, client: Client) -> None:
        self.client = client

    @classmethod
    async def connect(cls, servers: list[str], user: str | None = None, password: str | None = None,
                      name: str = "cf-component",
                      on_reconnect: Callable[[], Awaitable[None]] | None = None,
                      on_disconnect: Callable[[], Awaitable[None]] | None = None) -> "Bus":
        async def reconnected() -> None:
            log.info("reconnected to NATS")
            if on_reconnect is not None:
                await on_reconnect()

        async def disconnected() -> None:
            if on_disconnect is not None:
                await on_disconnect()

        async def error(exc: Exception) -> None:
            # nats-py's default logs a traceback on every failed reconnect (twice a second)
            log.warning("NATS: %s", exc or exc.__class__.__name__)

        client = await nats.connect(servers=servers, user=user, password=password, name=name,
                                    inbox_prefix=inbox_prefix(user),
                                    max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                                    reconnected_cb=reconnected, disconnected_cb=disconnected, error_cb=error)
        return cls(client)

    async def publish(self, subject: str, payload: dict, reply: str = "") -> None:
        await self.client.publish(subject, json.dumps(payload).encode(), reply=reply)

    async def subscribe(self, subject: str, handler: JsonHandler, queue: str = "") -> Any:
        async def on_message(msg: Msg) -> None:
            try:
                payload = json.loads(msg.data) if msg.data else {}
            except ValueError:
                log.warning("ignoring non-JSON message on %s", msg.subject)
                return
            try:
                await handler(payload, msg)
            except Exception:  # one bad message must not kill the subscription
                log.exception("handler for %s failed", msg.subject)

        return await self.client.subscribe(subject, queue=queue, cb=on_message)

    async def request(self, subject: str, payload: dict, timeout: float = 2.0) -> dict:
        msg = await self.client.request(subject, json.dumps(payload).encode(), timeout=timeout)
        return json.loads(msg.data)

    async def reply(self, msg: Msg, payload: dict) -> None:
        if msg.reply:
            await self.client.publish(msg.reply, json.dumps(payload).encode())

    async def gather_replies(self, subject: str, payload: dict, timeout: float, limit: int | None = None) -> list[dict]:
        """Publish with a reply inbox and collect answers until ``timeout`` (or ``limit`` answers):
        how dea.discover and dea.find.droplet are asked."""
        inbox = self.client.new_inbox()
        answers: list[dict] = []
        subscription = await self.client.subscribe(inbox)
        try:
            await self.publish(subject, payload, reply=inbox)
            deadline = asyncio.get_running_loop().time() + timeout
            while limit is None or len(answers) < limit:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    msg = await subscription.next_msg(timeout=remaining)
                except (nats.errors.TimeoutError, TimeoutError):
                    break
                try:
                    answers.append(json.loads(msg.data))
                except ValueError:
                    continue
        finally:
            await subscription.unsubscribe()
        return answers

    async def close(self) -> None:
        await self.client.drain()
