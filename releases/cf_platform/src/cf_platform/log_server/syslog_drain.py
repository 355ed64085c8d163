"""Syslog drains: an app's lines forwarded to the ``syslog://host:port`` URLs of its bindings.

Each line is an RFC 5424 message framed by octet counting (RFC 6587) over TCP, as
loggregator's syslog drains and releases/syslog_forwarder send them::

    <14>1 2026-12-01T03:00:00.123456Z cf-log-server <app guid> [APP/0] - - hello

(priority 14 = user.info for OUT, 11 = user.err for ERR). One thread and one bounded queue
per drain URL: a slow or dead syslog server loses lines (counted in ``dropped``) and is
retried with a backoff, never holding up the other drains or the senders.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
import urllib.parse
from datetime import UTC, datetime

from .log_line import LogLine

log = logging.getLogger(__name__)

HOSTNAME = "cf-log-server"


class BadDrainUrl(ValueError):
    pass


def parse_drain_url(url: str) -> tuple[str, int]:
    """``syslog://host:port`` → (host, port); anything else is refused with why."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "syslog":
        raise BadDrainUrl(f"drain {url!r}: only syslog://host:port (TCP) is supported")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or not port:
        raise BadDrainUrl(f"drain {url!r}: expected syslog://host:port")
    return parts.hostname, port


def frame(line: LogLine) -> bytes:
    """One octet-counted RFC 5424 message."""
    priority = 8 + (3 if line.stream == "ERR" else 6)
    stamp = datetime.fromtimestamp(line.timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    procid = f"[{line.source}/{line.index}]"
    message = line.message.replace("\n", " ")
    body = f"<{priority}>1 {stamp} {HOSTNAME} {line.app} {procid} - - {message}".encode("utf-8", "replace")
    return str(len(body)).encode() + b" " + body


class Drain:
    """One destination: a daemon thread sending what :meth:`offer` queued."""

    def __init__(self, url: str, queue_size: int = 10_000, connect_timeout: float = 5.0) -> None:
        self.url = url
        self.address = parse_drain_url(url)
        self.connect_timeout = connect_timeout
        self.queue: queue.Queue[LogLine | None] = queue.Queue(maxsize=queue_size)
        self.sent = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name=f"drain {self.address[0]}:{self.address[1]}",
                                        daemon=True)
        self._thread.start()

    def offer(self, line: LogLine) -> None:
        try:
            self.queue.put_nowait(line)
        except queue.Full:
            self.dropped += 1

    def close(self) -> None:
        try:
            self.queue.put_nowait(None)
        except queue.Full:
            pass

    def _run(self) -> None:
        backoff = 0.5
        sock: socket.socket | None = None
        pending: LogLine | None = None
        while True:
            line = pending if pending is not None else self.queue.get()
            pending = None
            if line is None:
                break
            try:
                if sock is None:
                    sock = socket.create_connection(self.address, timeout=self.connect_timeout)
                    sock.settimeout(30)
                    backoff = 0.5
                sock.sendall(frame(line))
                self.sent += 1
            except OSError as error:
                log.warning("syslog drain %s:%d: %s (retrying in %.1f s)", *self.address, error, backoff)
                if sock is not None:
                    sock.close()
                    sock = None
                pending = line
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
        if sock is not None:
            sock.close()


class DrainRouter:
    """App guid → its drains; :meth:`update` replaces the whole mapping (from the CC)."""

    def __init__(self, queue_size: int = 10_000) -> None:
        self.queue_size = queue_size
        self._drains: dict[str, Drain] = {}            # by URL: two apps draining to one URL share it
        self._by_app: dict[str, tuple[Drain, ...]] = {}
        self._lock = threading.Lock()

    def update(self, mapping: dict[str, tuple[str, ...]]) -> None:
        wanted: dict[str, tuple[str, ...]] = {}
        for app, urls in mapping.items():
            good = []
            for url in urls:
                try:
                    parse_drain_url(url)
                    good.append(url)
                except BadDrainUrl as error:
                    log.warning("app %s: %s", app, error)
            if good:
                wanted[app] = tuple(dict.fromkeys(good))
        with self._lock:
            urls = {u for us in wanted.values() for u in us}
            for url in set(self._drains) - urls:
                self._drains.pop(url).close()
            for url in urls - set(self._drains):
                self._drains[url] = Drain(url, self.queue_size)
            self._by_app = {app: tuple(self._drains[u] for u in us) for app, us in wanted.items()}

    def publish(self, line: LogLine) -> None:
        with self._lock:
            drains = self._by_app.get(line.app, ())
        for drain in drains:
            drain.offer(line)

    def counters(self) -> dict[str, int]:
        with self._lock:
            drains = list(self._drains.values())
        return {"drains": len(drains), "sent": sum(d.sent for d in drains),
                "dropped": sum(d.dropped for d in drains)}
