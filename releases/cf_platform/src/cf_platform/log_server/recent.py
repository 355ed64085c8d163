"""The recent buffer: the last lines of each app, bounded in lines per app and in apps.

Used from the server's request threads (one lock). An app not written to for longest is
dropped first when ``max_apps`` is reached, so a sender inventing guids cannot grow memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque

from .log_line import LogLine


class RecentBuffer:
    def __init__(self, lines_per_app: int = 1000, max_apps: int = 10_000) -> None:
        self.lines_per_app = lines_per_app
        self.max_apps = max_apps
        self._apps: OrderedDict[str, deque[LogLine]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, line: LogLine) -> None:
        with self._lock:
            lines = self._apps.get(line.app)
            if lines is None:
                while len(self._apps) >= self.max_apps:
                    self._apps.popitem(last=False)
                lines = self._apps[line.app] = deque(maxlen=self.lines_per_app)
            else:
                self._apps.move_to_end(line.app)
            lines.append(line)

    def recent(self, app: str) -> list[LogLine]:
        """Oldest first, sorted by the senders' timestamps (senders batch, so arrival order
        between two DEAs is not time order)."""
        with self._lock:
            lines = list(self._apps.get(app, ()))
        return sorted(lines, key=lambda l: l.timestamp)

    def app_count(self) -> int:
        with self._lock:
            return len(self._apps)
