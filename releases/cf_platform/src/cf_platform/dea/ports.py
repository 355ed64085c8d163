"""Host ports for instances, from the configured range.

A port is handed out only if nothing listens on it right now, and it is held until the
instance is gone, so two instances can never be given the same port.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field


class NoFreePort(Exception):
    pass


@dataclass
class PortPool:
    start: int
    end: int
    taken: set[int] = field(default_factory=set)
    _next: int = 0

    def acquire(self) -> int:
        size = self.end - self.start + 1
        for step in range(size):
            port = self.start + (self._next + step) % size
            if port in self.taken or not _bindable(port):
                continue
            self.taken.add(port)
            self._next = (port - self.start + 1) % size
            return port
        raise NoFreePort(f"no free port in {self.start}-{self.end}")

    def release(self, port: int | None) -> None:
        if port is not None:
            self.taken.discard(port)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True
