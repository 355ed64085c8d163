"""Bounds on the CC's HTTP connections, so idle or slow clients cannot pin its threads.

``http.server`` gives every connection a thread for as long as the client keeps it open, and
a socket timeout alone does not help against a client that sends one byte every few
seconds (each byte restarts it). So the guard, with one watchdog thread:

- gives every connection a deadline for its next request line and headers
  (``header_timeout``, counted from the accept or the end of the previous response): a
  slowloris or an idle keep-alive connection is shut down when it passes;
- lets no connection exceed ``max_connections``: a new one first evicts the connection that
  has waited longest for its headers (idle or slow ones; a real client sends its headers in
  milliseconds), and is refused with 503 only when every connection is busy with a request.

Bodies and responses are bounded by the socket timeout the handler sets (``io_timeout``,
each read or write), not by the guard: uploads may take long as long as they move.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class _Tracked:
    sock: socket.socket
    deadline: float | None       # None: a request is being handled


class ConnectionGuard:
    def __init__(self, header_timeout: float, max_connections: int, tick: float = 0.2,
                 clock=time.monotonic) -> None:
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        self.tick = tick
        self.clock = clock
        self.closed_slow = 0          # connections shut for passing their header deadline
        self.evicted = 0
        self.refused = 0
        self._conns: dict[int, _Tracked] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="cc-connection-guard", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def admit(self, sock: socket.socket) -> bool:
        """A new connection: True if it may be served (maybe after evicting a waiting one)."""
        victim: socket.socket | None = None
        with self._lock:
            if len(self._conns) >= self.max_connections:
                waiting = [t for t in self._conns.values() if t.deadline is not None]
                if not waiting:
                    self.refused += 1
                    return False
                oldest = min(waiting, key=lambda t: t.deadline or 0.0)
                del self._conns[id(oldest.sock)]
                victim = oldest.sock
                self.evicted += 1
            self._conns[id(sock)] = _Tracked(sock, self.clock() + self.header_timeout)
        if victim is not None:
            _shut(victim)
        return True

    def busy(self, sock: socket.socket) -> None:
        """Headers are in: the request is being handled (no header deadline)."""
        with self._lock:
            tracked = self._conns.get(id(sock))
            if tracked is not None:
                tracked.deadline = None

    def waiting(self, sock: socket.socket) -> None:
        """A response is out: the next request's headers are due within header_timeout."""
        with self._lock:
            tracked = self._conns.get(id(sock))
            if tracked is not None:
                tracked.deadline = self.clock() + self.header_timeout

    def release(self, sock: socket.socket) -> None:
        with self._lock:
            tracked = self._conns.get(id(sock))
            if tracked is not None and tracked.sock is sock:
                del self._conns[id(sock)]

    def __len__(self) -> int:
        with self._lock:
            return len(self._conns)

    def _watch(self) -> None:
        while not self._stop.wait(self.tick):
            now = self.clock()
            with self._lock:
                late = [t for t in self._conns.values() if t.deadline is not None and t.deadline <= now]
                for tracked in late:
                    del self._conns[id(tracked.sock)]
            for tracked in late:
                self.closed_slow += 1
                _shut(tracked.sock)
            if late:
                log.info("closed %d connections that sent no complete request within %gs",
                         len(late), self.header_timeout)


def _shut(sock: socket.socket) -> None:
    """Wake the handler thread blocked on this socket: its read returns end-of-file."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
