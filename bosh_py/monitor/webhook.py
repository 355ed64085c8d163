"""The webhook plugin: each health decision (resurrect, meltdown, bus problem, unresponsive
agent, resurrection off) POSTed as a JSON alert to a URL a person watches (a chat hook, a
pager gateway), as BOSH's health monitor plugins do.

Delivery never blocks the monitor: ``notify`` only queues (a full queue drops the oldest
alert and says so in the log), and one worker task POSTs them, retrying a bounded number
of times with a growing pause. With a ``secret`` each body is signed (HMAC-SHA256 of the
exact bytes sent, hex, in ``X-Bosh-Py-Signature: sha256=…``, as GitHub signs its webhooks)
so the receiver can tell the director's alerts from anyone else's. Neither the secret nor
the URL's path or query (chat hooks keep their token there) is ever logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bosh_py.director.config import WebhookConfig

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Bosh-Py-Signature"
QUEUE_SIZE = 100


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def safe_target(url: str) -> str:
    """What the log may say about the URL: scheme and host only."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}"


def alert(director: str, deployment: str | None, action: str, message: str, severity: int) -> dict[str, Any]:
    """An alert as BOSH's health monitor shapes them (id, severity, title, summary, created_at)."""
    return {
        "id": uuid.uuid4().hex,
        "severity": severity,
        "source": director,
        "deployment": deployment,
        "action": action,
        "title": f"{action}: {deployment or director}",
        "summary": message,
        "created_at": int(time.time()),
    }


class WebhookNotifier:
    def __init__(self, config: WebhookConfig) -> None:
        self.config = config
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._worker: asyncio.Task[None] | None = None
        self.delivered = 0
        self.failed = 0

    def notify(self, payload: dict[str, Any]) -> None:
        """Queue one alert and return at once; starts the worker on first use."""
        if self._queue.full():
            self._queue.get_nowait()
            log.warning("webhook %s: queue full, dropped the oldest alert", safe_target(self.config.url))
        self._queue.put_nowait(payload)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._deliver_forever())

    async def drain(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) until every queued alert was delivered or given up."""
        await asyncio.wait_for(self._queue.join(), timeout)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)

    async def _deliver_forever(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.config.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                payload = await self._queue.get()
                try:
                    await self._deliver(session, payload)
                finally:
                    self._queue.task_done()

    async def _deliver(self, session: aiohttp.ClientSession, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, sort_keys=True).encode()
        headers = {"Content-Type": "application/json"}
        if self.config.secret:
            headers[SIGNATURE_HEADER] = signature(self.config.secret, body)
        problem = ""
        for attempt in range(1, self.config.attempts + 1):
            try:
                async with session.post(self.config.url, data=body, headers=headers) as response:
                    if response.status < 300:
                        self.delivered += 1
                        return
                    problem = f"HTTP {response.status}"
            except (TimeoutError, aiohttp.ClientError, OSError) as error:
                problem = type(error).__name__
            if attempt < self.config.attempts:
                await asyncio.sleep(self.config.retry_pause * attempt)
        self.failed += 1
        log.warning("webhook %s: alert %s not delivered after %d attempts (%s)", safe_target(self.config.url),
                    payload.get("id"), self.config.attempts, problem)
