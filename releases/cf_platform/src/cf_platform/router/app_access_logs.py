"""The router's access lines for each app (``RTR``), sent to the log server.

nginx already writes every request to ``access.log`` in gorouter's access-log format
(nginx_conf's ``cf_router``), buffered (64 KiB or once a second), so reading that file costs
nginx nothing. :class:`AccessLogFollower` reads what was appended since its last poll (from
the end of the file at start: old lines are not replayed; from 0 again after logrotate), finds
the backend in the quoted ``$upstream_addr`` field and, through the route table, the app and
instance index of that backend, and hands the whole line to the emitter as ``RTR/<index>``.
A request no app served (unknown route, 502 before any backend) is nobody's line and is
skipped. The emitter never blocks (cf_platform.log_server.emitter).

Which thread: :meth:`run` takes the route table on the router's loop and has :meth:`poll`
read the file on a worker thread, every ``interval`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from cf_platform.log_server.emitter import LogEmitter

from .registry import Endpoint

log = logging.getLogger(__name__)

#: ``"<upstream_addr>" x_forwarded_for:`` - the last backend tried (``a, b`` after a retry)
_UPSTREAM = re.compile(r'"([^"]*)" x_forwarded_for:')


def upstream_of(line: str) -> str | None:
    match = _UPSTREAM.search(line)
    if match is None:
        return None
    last = match.group(1).replace(" : ", ",").split(",")[-1].strip()
    return last if last and last != "-" else None


class AccessLogFollower:
    def __init__(self, path: Path, emitter: LogEmitter, endpoints: Callable[[], Iterable[Endpoint]],
                 max_read: int = 1024 * 1024) -> None:
        self.path = path
        self.emitter = emitter
        self.endpoints = endpoints
        self.max_read = max_read
        self._offset: int | None = None      # None: start at the current end
        self._inode: int | None = None
        self._partial = b""
        self.skipped = 0

    def poll(self, endpoints: Iterable[Endpoint] | None = None) -> int:
        """Emit the lines appended since the last poll; ``endpoints``: the route table's
        (taken on the loop; default: asked now)."""
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                if self._offset is None:
                    self._offset, self._inode = st.st_size, st.st_ino
                    return 0
                if st.st_ino != self._inode or st.st_size < self._offset:    # rotated or truncated
                    self._offset, self._inode, self._partial = 0, st.st_ino, b""
                f.seek(self._offset)
                data = f.read(self.max_read)
        except FileNotFoundError:
            self._offset, self._inode = 0, None
            return 0
        if not data:
            return 0
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        self._partial = self._partial[-16384:]
        if not lines:
            return 0
        by_address = {e.address: e for e in (self.endpoints() if endpoints is None else endpoints)}
        sent = 0
        for raw in lines:
            text = raw.decode("utf-8", "replace")
            endpoint = by_address.get(upstream_of(text) or "")
            if endpoint is None or not endpoint.app:
                self.skipped += 1
                continue
            self.emitter.emit(endpoint.app, "RTR", endpoint.private_instance_index or 0, text)
            sent += 1
        return sent

    async def run(self, interval: float = 0.5) -> None:
        while True:
            try:
                endpoints = list(self.endpoints())      # on the loop, where the table changes
                await asyncio.to_thread(self.poll, endpoints)
            except OSError as e:
                log.warning("cannot read the access log %s: %s", self.path, e)
            await asyncio.sleep(interval)
