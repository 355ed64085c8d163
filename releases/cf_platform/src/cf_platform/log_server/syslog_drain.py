"""Syslog drains: an app's lines forwarded to the ``syslog://host:port`` URLs of its bindings.

Each line is an RFC 5424 message framed by octet counting (RFC 6587) over TCP, as
loggregator's syslog drains and releases/syslog_forwarder send them::

    <14>1 2026-12-01T03:00:00.123456Z cf-log-server <app guid> [APP/0] - - hello

(priority 14 = user.info for OUT, 11 = user.err for ERR). One thread and one bounded queue
per drain URL: a slow or dead syslog server loses lines (counted in ``dropped``) and is
retried with a backoff, never holding up the other drains or the senders.

Every connection goes through :func:`connect_checked`: the drain's host is resolved at that
moment (again at each reconnect, so a name that changes its answer, DNS rebinding, is judged
anew), EVERY address it resolves to must pass the :class:`~.drain_policy.DrainPolicy`, and the
socket connects to one of those checked addresses, never resolving again. A refused drain is
logged once, counted (``refused``), and its lines are dropped; it is checked again every
``REFUSED_RECHECK`` seconds while lines keep coming.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
import urllib.parse
from datetime import UTC, datetime

from .drain_policy import DrainPolicy
from .log_line import LogLine

log = logging.getLogger(__name__)

HOSTNAME = "cf-log-server"
REFUSED_RECHECK = 30.0      # seconds a refused drain drops lines before its host is resolved again


class BadDrainUrl(ValueError):
    pass


class DrainRefused(Exception):
    """The drain's host is (or resolves to) an address the policy blocks."""


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


def connect_checked(host: str, port: int, policy: DrainPolicy, timeout: float) -> socket.socket:
    """A TCP connection to ``host:port`` when every address ``host`` resolves to is allowed.

    DrainRefused names the first blocked address (none is connected to); OSError when the name
    does not resolve or no allowed address answers."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    for *_, sockaddr in infos:
        try:
            why = policy.refusal(str(sockaddr[0]))
        except ValueError:
            why = f"{sockaddr[0]!r} is not an IP address"
        if why is not None:
            raise DrainRefused(f"{host} resolves to {sockaddr[0]}: {why}" if host != sockaddr[0] else why)
    error: OSError = OSError(f"{host} resolved to no address")
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)      # the checked address itself: no second resolution
            return sock
        except OSError as failure:
            sock.close()
            error = failure
    raise error


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

    def __init__(self, url: str, queue_size: int = 10_000, connect_timeout: float = 5.0,
                 policy: DrainPolicy | None = None, refused_recheck: float = REFUSED_RECHECK) -> None:
        self.url = url
        self.address = parse_drain_url(url)
        self.connect_timeout = connect_timeout
        self.policy = policy if policy is not None else DrainPolicy()
        self.refused_recheck = refused_recheck
        self.queue: queue.Queue[LogLine | None] = queue.Queue(maxsize=queue_size)
        self.sent = 0
        self.dropped = 0
        self.refusals = 0           # times this drain went from usable to refused (each logged once)
        self.refused_lines = 0      # lines dropped because the drain is refused
        self.refused = False
        self._recheck_at = 0.0
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
                    sock = self._connect()
                    if sock is None:
                        self.dropped += 1
                        self.refused_lines += 1
                        continue
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

    def _connect(self) -> socket.socket | None:
        """A checked connection; None while the drain is refused (its lines are dropped)."""
        host, port = self.address
        if self.refused and time.monotonic() < self._recheck_at:
            return None
        try:
            sock = connect_checked(host, port, self.policy, self.connect_timeout)
        except DrainRefused as why:
            self._recheck_at = time.monotonic() + self.refused_recheck
            if not self.refused:
                self.refused = True
                self.refusals += 1
                log.warning("syslog drain %s:%d refused: %s; its lines are dropped", host, port, why)
            return None
        if self.refused:
            self.refused = False
            log.info("syslog drain %s:%d is allowed again", host, port)
        return sock


class DrainRouter:
    """App guid → its drains; :meth:`update` replaces the whole mapping (from the CC)."""

    def __init__(self, queue_size: int = 10_000, policy: DrainPolicy | None = None) -> None:
        self.queue_size = queue_size
        self.policy = policy if policy is not None else DrainPolicy()
        self._drains: dict[str, Drain] = {}            # by URL: two apps draining to one URL share it
        self._by_app: dict[str, tuple[Drain, ...]] = {}
        self._retired = {"sent": 0, "dropped": 0, "refused": 0, "refused_lines": 0}   # of drains gone
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
                gone = self._drains.pop(url)
                gone.close()
                for key, value in _totals([gone]).items():
                    self._retired[key] += value
            for url in urls - set(self._drains):
                self._drains[url] = Drain(url, self.queue_size, policy=self.policy)
            self._by_app = {app: tuple(self._drains[u] for u in us) for app, us in wanted.items()}

    def publish(self, line: LogLine) -> None:
        with self._lock:
            drains = self._by_app.get(line.app, ())
        for drain in drains:
            drain.offer(line)

    def counters(self) -> dict[str, int]:
        """Totals since start (drains removed since included); ``refused``: refusals, each
        logged once; ``refused_now``: drains refused at present."""
        with self._lock:
            drains = list(self._drains.values())
            retired = dict(self._retired)
        totals = {key: value + retired[key] for key, value in _totals(drains).items()}
        return {"drains": len(drains), **totals, "refused_now": sum(d.refused for d in drains)}


def _totals(drains: list[Drain]) -> dict[str, int]:
    return {"sent": sum(d.sent for d in drains), "dropped": sum(d.dropped for d in drains),
            "refused": sum(d.refusals for d in drains), "refused_lines": sum(d.refused_lines for d in drains)}
