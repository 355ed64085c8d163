"""Live followers: each ``cf-py logs`` connection gets a bounded queue of its app's lines.

``publish`` runs on the ingest thread and never blocks: a follower that reads too slowly
loses lines (counted, and told once with a marker line) rather than slowing the senders.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field

from .log_line import LogLine


@dataclass(eq=False)
class Follower:
    app: str
    lines: queue.Queue[LogLine] = field(default_factory=lambda: queue.Queue(maxsize=2000))
    dropped: int = 0


class FollowerHub:
    def __init__(self, max_followers: int = 256, queue_size: int = 2000) -> None:
        self.max_followers = max_followers
        self.queue_size = queue_size
        self._by_app: dict[str, set[Follower]] = {}
        self._count = 0
        self._lock = threading.Lock()
        self.dropped = 0

    def join(self, app: str) -> Follower | None:
        """A new follower of ``app``, or None when ``max_followers`` are already here."""
        with self._lock:
            if self._count >= self.max_followers:
                return None
            follower = Follower(app, queue.Queue(maxsize=self.queue_size))
            self._by_app.setdefault(app, set()).add(follower)
            self._count += 1
            return follower

    def leave(self, follower: Follower) -> None:
        with self._lock:
            followers = self._by_app.get(follower.app)
            if followers is not None and follower in followers:
                followers.discard(follower)
                self._count -= 1
                if not followers:
                    del self._by_app[follower.app]

    def publish(self, line: LogLine) -> None:
        with self._lock:
            followers = list(self._by_app.get(line.app, ()))
        for follower in followers:
            try:
                follower.lines.put_nowait(line)
            except queue.Full:
                follower.dropped += 1
                with self._lock:
                    self.dropped += 1

    def count(self) -> int:
        with self._lock:
            return self._count
