"""Per-request counters of the router, fed by nginx and read by ``/metrics``.

How the numbers get here: nginx logs one short line per request (``$status``,
``$upstream_response_time``, the app of the route) to a buffered log file
(``nginx_conf`` renders the ``access_log`` line; :class:`MetricsLog` reads and empties it).
Why a buffered file: nginx then pays one write per 64 KiB of lines, and can never block on
it (a full pipe would stall nginx's workers). A first version sent each line as a syslog
datagram to a unix socket: a system call and an event-loop wake-up per request cost a third
of the router's throughput on two cores, and lines were lost whenever the socket's queue
(512 datagrams) filled.

:class:`RequestMetrics` is pure (lines in, counters out) and bounded: at most ``max_apps``
app labels (the rest count under ``app="other"``), and app ids only ever come from the
router's own rendered configuration, never from a client's request.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

# upstream latency buckets in seconds (Prometheus' defaults, which suit HTTP backends)
LATENCY_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
OTHER_APP = "other"
SEPARATOR = "|"


def status_class(status: str) -> str | None:
    return f"{status[0]}xx" if len(status) == 3 and status[0] in "12345" and status.isdigit() else None


def upstream_seconds(field_value: str) -> float | None:
    """nginx's ``$upstream_response_time``: ``-`` when no backend was asked, ``a, b`` when
    the request was retried on another backend, ``a : b`` after an internal redirect.
    The time spent on backends is the sum."""
    total, seen = 0.0, False
    for part in field_value.replace(":", ",").split(","):
        part = part.strip()
        if not part or part == "-":
            continue
        try:
            total += float(part)
        except ValueError:
            return None
        seen = True
    return total if seen else None


@dataclass
class RequestMetrics:
    max_apps: int = 10000
    requests: dict[tuple[str, str], int] = field(default_factory=dict)   # (app, class) -> count
    latency_counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS) + 1))
    latency_sum: float = 0.0
    lines: int = 0
    malformed: int = 0
    _apps: set[str] = field(default_factory=set)

    def record_line(self, payload: str, times: int = 1) -> None:
        """One log line (seen ``times`` times): ``<status>|<upstream_response_time>|<app>``."""
        parts = payload.rstrip("\n").split(SEPARATOR)
        klass = status_class(parts[0]) if len(parts) == 3 else None
        if klass is None:
            self.malformed += times
            return
        self.lines += times
        app = self._app_label(parts[2])
        key = (app, klass)
        self.requests[key] = self.requests.get(key, 0) + times
        seconds = upstream_seconds(parts[1])
        if seconds is not None:
            self.latency_sum += seconds * times
            self.latency_counts[bisect.bisect_left(LATENCY_BOUNDS, seconds)] += times

    def _app_label(self, app: str) -> str:
        if app in self._apps:
            return app
        if len(self._apps) >= self.max_apps:
            return OTHER_APP
        self._apps.add(app)
        return app

    def by_status_class(self) -> dict[str, int]:
        totals = dict.fromkeys(STATUS_CLASSES, 0)
        for (_, klass), count in self.requests.items():
            totals[klass] += count
        return totals


class MetricsLog:
    """The file nginx's workers append their metric lines to, read and emptied by the control plane.

    nginx writes it buffered (64 KiB or once a second per worker, one ``write`` each), so a
    request costs nginx no system call of its own and the control plane reads thousands of
    lines at a time; identical lines (most are: the upstream time has millisecond
    resolution) are counted once. The file is a regular file, so nginx can never block on
    it, and it stays small: each read empties it (``ftruncate``: nginx appends with
    O_APPEND, so its next write lands at the new end)."""

    CHUNK = 1024 * 1024

    def __init__(self, path: Path, metrics: RequestMetrics) -> None:
        self.path = path
        self.metrics = metrics
        self._partial = b""

    def create(self) -> None:
        """Empty, before nginx opens it (it appends to whatever is there)."""
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)

    def poll(self) -> int:
        """Count every complete line written since the last poll; returns how many."""
        try:
            fd = os.open(self.path, os.O_RDWR)
        except FileNotFoundError:
            return 0
        chunks: list[bytes] = []
        try:
            while chunk := os.read(fd, self.CHUNK):
                chunks.append(chunk)
            os.ftruncate(fd, 0)  # right after the last read: a write landing in between is lost
        finally:
            os.close(fd)
        data = b"".join(chunks)
        data = self._partial + data
        complete, _, self._partial = data.rpartition(b"\n")
        self._partial = self._partial[-4096:]  # a line is ~100 bytes: never hold more than one
        if not complete:
            return 0
        lines = complete.split(b"\n")
        record = self.metrics.record_line
        for line, times in Counter(lines).items():
            record(line.decode("latin-1"), times)
        return len(lines)

    async def run(self, interval: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                self.poll()
            except OSError as e:
                log.warning("cannot read the metric lines in %s: %s", self.path, e)
