"""An asyncio loop in a background thread, so the threaded stdlib HTTP server can use the
asyncio NATS client: handlers submit coroutines and (when they need an answer) wait."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from typing import Any, Coroutine, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class LoopThread:
    def __init__(self, name: str = "cc-nats") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._pending: set[concurrent.futures.Future] = set()
        self._lock = threading.Lock()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self) -> None:
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run on the loop and wait for the result (from a non-loop thread)."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()     # do not leave it running on the loop
            raise

    def submit(self, coro: Coroutine[Any, Any, Any], what: str = "background task") -> concurrent.futures.Future:
        """Fire and forget; failures are logged, never lost silently."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        with self._lock:
            self._pending.add(future)

        def done(f: concurrent.futures.Future) -> None:
            with self._lock:
                self._pending.discard(f)
            if not f.cancelled() and f.exception() is not None:
                log.error("%s failed", what, exc_info=f.exception())

        future.add_done_callback(done)
        return future

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait for submitted tasks (tests and shutdown)."""
        with self._lock:
            pending = list(self._pending)
        concurrent.futures.wait(pending, timeout=timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
