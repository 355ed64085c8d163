"""Keeps the director's nats-server running: if it exits (crash, OOM kill, an operator's
kill), start it again with the same config and users, so agents and the director reconnect
on their own and no VM is ever judged dead because the bus was.

Restarts back off (doubling from ``first_delay`` up to ``max_delay``) so a server that
cannot start (port taken, bad binary) is retried without spinning; the delay resets once
a restarted server has stayed up for ``stable_after`` seconds. Runs on the director's event
loop; the blocking start runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Callable, Protocol

log = logging.getLogger(__name__)


class Supervised(Protocol):
    def pid(self) -> int | None: ...

    def restart_if_stopped(self) -> int | None: ...


@dataclass(frozen=True)
class Backoff:
    first_delay: float = 0.5
    max_delay: float = 30.0
    stable_after: float = 60.0

    def next_delay(self, previous: float | None) -> float:
        return self.first_delay if previous is None else min(previous * 2, self.max_delay)


class NatsSupervisor:
    def __init__(self, server: Supervised, on_event: Callable[[str, str], None] = lambda _a, _m: None,
                 poll_interval: float = 0.5, backoff: Backoff = Backoff()) -> None:
        self.server = server
        self.on_event = on_event  # (action, message): the director records these as events
        self.poll_interval = poll_interval
        self.backoff = backoff
        self.restarts = 0

    async def run_forever(self) -> None:
        delay: float | None = None
        up_since = time.monotonic()
        while True:
            await asyncio.sleep(self.poll_interval)
            if self.server.pid() is not None:
                if delay is not None and time.monotonic() - up_since >= self.backoff.stable_after:
                    delay = None
                continue
            delay = self.backoff.next_delay(delay)
            log.warning("nats-server is not running; restarting it in %gs", delay)
            await asyncio.sleep(delay)
            try:
                pid = await asyncio.to_thread(self.server.restart_if_stopped)
            except Exception as error:  # keep supervising: the next round retries, slower
                self.on_event("restart failed", f"nats-server had exited and did not start again: {error}")
                continue
            if pid is None:  # stopped on purpose (the director is shutting down)
                return
            self.restarts += 1
            up_since = time.monotonic()
            self.on_event("restarted", f"nats-server had exited; running again (pid {pid})")
