"""What both kinds of supervised process report (a YAML process the agent runs itself, a
classic monit check it watches through a pidfile), so get_state, heartbeats, alerts and
``instances --ps`` show them alike."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


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
    """The lifecycle state of a runner that restarts its process with backoff; the runner
    sets these attributes."""

    pid: int | None
    started_at: float
    _stopping: bool
    _task: asyncio.Task | None
    _last_crash: float | None
    _running_after: float
    _stable_after: float

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
