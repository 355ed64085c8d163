"""What both kinds of supervised process report (a YAML process the agent runs itself, a
classic monit check it watches through a pidfile), so get_state, heartbeats, alerts and
``instances --ps`` show them alike."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class ProcessExit:
    """An unexpected exit, for alerts."""
    job: str
    name: str
    pid: int
    returncode: int | None
    restart_in: float
    crashes: int


@dataclass
class ProcessStatus:
    job: str
    name: str
    state: str
    pid: int | None
    uptime: float
    crashes: int


@dataclass
class Backoff:
    initial: float = 1.0
    maximum: float = 60.0
    reset_after: float = 30.0  # a run this long forgives earlier crashes

    def delay(self, consecutive: int) -> float:
        return min(self.maximum, self.initial * (2 ** max(0, consecutive - 1)))


class RestartingProcess:
    """What a runner that restarts its process with backoff holds, and the lifecycle state
    it reports; ``spec`` is the runner's own (a YAML process or a monit check)."""

    def __init__(self, spec: Any, job_target: str, paths: Any, on_exit: Callable[[ProcessExit], None],
                 log: logging.Logger, backoff: Backoff, running_after: float, stable_after: float):
        self.spec = spec
        self.job_target = job_target
        self.paths = paths
        self._on_exit = on_exit
        self._log = log
        self._backoff = backoff
        self._running_after = running_after
        self._stable_after = stable_after
        self.pid: int | None = None
        self.started_at = 0.0
        self.crashes = 0
        self._last_crash: float | None = None
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._task: asyncio.Task | None = None

    @property
    def state(self) -> str:
        if self._stopping or self._task is None or self._task.done():
            return "stopped"
        if self.pid is None:
            return "failing" if self._last_crash is not None else "starting"
        up = time.monotonic() - self.started_at
        if self._last_crash is not None and up < self._stable_after:
            return "failing"
        return "starting" if up < self._running_after else "running"
