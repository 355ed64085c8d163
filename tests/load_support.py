"""A load generator for the zero-loss tests and benchmarks: one request every ``interval``
seconds to one URL (with a Host header, as a router needs), from a background thread, so a
test can roll a deployment or kill a VM in the foreground while it counts.

A request fails when it gets anything but 200 or no answer within ``timeout``; each failure
is kept with its time and reason so a test that sees one can say what happened when.
Threads rather than asyncio because the foreground runs blocking CLI calls.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class LoadResult:
    sent: int = 0
    failures: list[tuple[float, str]] = field(default_factory=list)  # (seconds since start, reason)
    bodies: set[str] = field(default_factory=set)  # distinct first lines answered: which instances served

    @property
    def failed(self) -> int:
        return len(self.failures)

    def summary(self) -> str:
        shown = "; ".join(f"{at:.1f}s {reason}" for at, reason in self.failures[:10])
        return f"{self.failed} of {self.sent} requests failed" + (f": {shown}" if shown else "")


class LoadGenerator:
    """``with LoadGenerator(url, host) as load: ...; load.result``: requests run until the
    block ends. ``workers`` threads each send one request per ``interval``."""

    def __init__(self, url: str, host: str | None = None, interval: float = 0.05, timeout: float = 5.0,
                 workers: int = 1) -> None:
        self.url, self.interval, self.timeout = url, interval, timeout
        self.headers = {"Host": host} if host else {}
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True, name=f"load-{n}") for n in range(workers)]
        self._started = 0.0

    def __enter__(self) -> "LoadGenerator":
        self._started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> LoadResult:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)
        return self.result

    def wait_for(self, requests: int, timeout: float = 60.0) -> None:
        """Block until at least ``requests`` more have been sent (the load is really running)."""
        target = self.result.sent + requests
        deadline = time.monotonic() + timeout
        while self.result.sent < target:
            if time.monotonic() > deadline:
                raise AssertionError(f"the load generator sent {self.result.sent} of {target} requests "
                                     f"in {timeout:.0f}s")
            time.sleep(0.05)

    def _record(self, reason: str | None, body: str = "") -> None:
        with self._lock:
            self.result.sent += 1
            if reason is not None:
                self.result.failures.append((time.monotonic() - self._started, reason))
            elif body:
                self.result.bodies.add(body.splitlines()[0] if body else "")

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout, headers=self.headers) as client:
            next_at = time.monotonic()
            while not self._stop.is_set():
                try:
                    response = client.get(self.url)
                    if response.status_code == 200:
                        self._record(None, response.text)
                    else:
                        router_error = response.headers.get("X-Cf-RouterError", "")
                        self._record(f"HTTP {response.status_code}{' ' + router_error if router_error else ''}")
                except httpx.HTTPError as error:
                    self._record(f"{type(error).__name__}: {error}")
                next_at += self.interval
                self._stop.wait(max(0.0, next_at - time.monotonic()))
