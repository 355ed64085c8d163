"""Long actions run as tasks the director polls with ``get_task`` (BOSH's async actions).

An action that ends within ``INLINE_WAIT`` is answered with its own reply instead of a task
id (``run``): most of a rollout's actions (prepare, apply, start, stop without drain,
post-start) take tens of milliseconds, and a task id would cost each of them a poll
interval and a ``get_task`` round trip. The director's AgentClient.run takes either answer,
as BOSH's director does (it polls only a reply that names a running task).

Results are kept for a while after completion so a director that polls late (or retries
a poll after a NATS hiccup) still gets the answer. Tasks live in memory only: an agent
restart loses running tasks, and get_task then says so clearly."""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from bosh_py.errors import BoshPyError

KEEP_FINISHED = 3600.0
INLINE_WAIT = 1.0  # seconds; well below the director's RPC timeout (45 s, BOSH's)


def exception_reply(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, BoshPyError):
        message = str(exc)
    elif isinstance(exc, asyncio.CancelledError):
        message = "Task was canceled"
    else:
        message = f"{type(exc).__name__}: {exc}"
    return {"exception": {"message": message}}


@dataclass
class AgentTask:
    id: str
    method: str
    task: asyncio.Task
    finished_at: float | None = None
    reply: dict[str, Any] = field(default_factory=dict)


class TaskManager:
    def __init__(self, log: logging.Logger):
        self._log = log
        self._tasks: dict[str, AgentTask] = {}

    def start(self, method: str, work: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
        self._prune()
        task_id = uuid.uuid4().hex
        t = AgentTask(task_id, method, asyncio.create_task(work(), name=f"{method} {task_id}"))
        self._tasks[task_id] = t
        t.task.add_done_callback(lambda _f, t=t: self._finished(t))
        return {"agent_task_id": task_id, "state": "running"}

    async def run(self, method: str, work: Callable[[], Awaitable[Any]], wait: float = INLINE_WAIT) -> dict[str, Any]:
        """Start ``work`` as a task; the whole reply is its own if it ends within ``wait``
        seconds, else ``{"value": {"agent_task_id", "state": "running"}}`` to poll."""
        started = self.start(method, work)
        task = self._tasks[started["agent_task_id"]].task
        if wait > 0:
            await asyncio.wait({task}, timeout=wait)  # a timeout leaves the task running
        if task.done():
            return self.get(started["agent_task_id"])
        return {"value": started}

    def _finished(self, t: AgentTask) -> None:
        if t.finished_at is not None:  # get() may have got here first
            return
        t.finished_at = time.monotonic()
        if t.task.cancelled():
            t.reply = exception_reply(asyncio.CancelledError())
        elif t.task.exception() is not None:
            exc = t.task.exception()
            if not isinstance(exc, BoshPyError):
                self._log.error("task %s (%s) crashed:\n%s", t.id, t.method,
                                "".join(traceback.format_exception(exc)))
            else:
                self._log.warning("task %s (%s) failed: %s", t.id, t.method, exc)
            t.reply = exception_reply(exc)
        else:
            t.reply = {"value": t.task.result()}
            self._log.info("task %s (%s) done", t.id, t.method)

    def get(self, task_id: str) -> dict[str, Any]:
        t = self._tasks.get(task_id)
        if t is None:
            return {"exception": {"message": f"Task {task_id} not found (the agent may have restarted)"}}
        if not t.task.done():
            return {"value": {"agent_task_id": task_id, "state": "running"}}
        self._finished(t)  # done, but the done-callback may not have run yet
        return t.reply

    def cancel(self, task_id: str) -> bool:
        t = self._tasks.get(task_id)
        if t is None or t.task.done():
            return False
        t.task.cancel()
        return True

    def running(self) -> list[str]:
        return [t.id for t in self._tasks.values() if not t.task.done()]

    def _prune(self) -> None:
        now = time.monotonic()
        for tid in [tid for tid, t in self._tasks.items()
                    if t.finished_at is not None and now - t.finished_at > KEEP_FINISHED]:
            del self._tasks[tid]
