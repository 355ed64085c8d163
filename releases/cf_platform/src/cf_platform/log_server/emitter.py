"""Sending lines to the log server from a platform component (DEA, router, CC, HM).

:meth:`LogEmitter.emit` never blocks and never raises: it puts the line on a bounded queue
that a daemon thread sends in batches (``POST /v1/lines``, basic auth). When the log server
is slow or down the queue fills and further lines are dropped and counted (``dropped``):
an app printing faster than logs can travel is never slowed by it.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import queue
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmitterSettings:
    url: str                     # http://host:port of the log server
    user: str
    password: str = field(repr=False)
    queue_size: int = 10_000
    batch_lines: int = 500
    timeout: float = 5.0

    @classmethod
    def parse(cls, raw: Any, where: str = "log_server") -> EmitterSettings | None:
        """``{url, user, password}`` from a component's JSON config; None when absent or without url."""
        if raw is None or (isinstance(raw, dict) and not raw.get("url")):
            return None
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: expected an object")  # noqa: TRY004 - a config error, named by key
        for key in ("url", "user", "password"):
            if not isinstance(raw.get(key), str) or not raw[key]:
                raise ValueError(f"{where}.{key}: required (a string)")
        parts = urllib.parse.urlsplit(raw["url"])
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"{where}.url: expected http://host:port, got {raw['url']!r}")
        extra = {k: raw[k] for k in ("queue_size", "batch_lines", "timeout") if k in raw}
        return cls(raw["url"], raw["user"], raw["password"], **extra)


class LogEmitter:
    def __init__(self, settings: EmitterSettings) -> None:
        self.settings = settings
        parts = urllib.parse.urlsplit(settings.url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._auth = "Basic " + base64.b64encode(f"{settings.user}:{settings.password}".encode()).decode()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=settings.queue_size)
        self.sent = 0
        self.dropped = 0
        self.failed_batches = 0
        self._thread = threading.Thread(target=self._run, name="log-emitter", daemon=True)
        self._thread.start()

    def emit(self, app: str, source: str, index: int, message: str, stream: str = "OUT",
             timestamp: float | None = None) -> None:
        encoded = json.dumps({"app": app, "source": source, "index": index, "stream": stream,
                              "timestamp": timestamp if timestamp is not None else time.time(),
                              "message": message}).encode() + b"\n"
        try:
            self._queue.put_nowait(encoded)
        except queue.Full:
            self.dropped += 1

    def close(self, timeout: float = 2.0) -> None:
        """Send what is queued (for at most ``timeout``), then stop the thread."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def counters(self) -> dict[str, int]:
        return {"sent": self.sent, "dropped": self.dropped, "failed_batches": self.failed_batches,
                "queued": self._queue.qsize()}

    def _run(self) -> None:
        connection: http.client.HTTPConnection | None = None
        backoff = 0.2
        while True:
            first = self._queue.get()
            batch = [first] if first is not None else []
            closing = first is None
            while not closing and len(batch) < self.settings.batch_lines:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    closing = True
                else:
                    batch.append(item)
            if batch:
                try:
                    if connection is None:
                        connection = http.client.HTTPConnection(self._host, self._port, timeout=self.settings.timeout)
                    body = b"".join(batch)
                    connection.request("POST", "/v1/lines", body,
                                       {"Authorization": self._auth, "Content-Type": "application/x-ndjson"})
                    response = connection.getresponse()
                    answer = response.read()
                    if response.status == 200:
                        self.sent += len(batch)
                        backoff = 0.2
                    else:
                        self.failed_batches += 1
                        self.dropped += len(batch)
                        log.warning("the log server refused %d lines: %d %s", len(batch), response.status,
                                    answer[:200].decode(errors="replace"))
                except (OSError, http.client.HTTPException) as error:
                    self.failed_batches += 1
                    self.dropped += len(batch)
                    if connection is not None:
                        connection.close()
                        connection = None
                    log.warning("log server %s:%d unreachable (%s): %d lines dropped", self._host, self._port,
                                error, len(batch))
                    if not closing:
                        time.sleep(backoff)
                        backoff = min(backoff * 2, 5.0)
            if closing:
                break
        if connection is not None:
            connection.close()
