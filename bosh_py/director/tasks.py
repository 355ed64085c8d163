"""Tasks: every change the director makes runs as a numbered task with its own logs.

A task is queued in the database as a kind and its JSON parameters (task_kinds.py), never as
code, and runs in whichever director process claims it: the API process itself, or one of
its workers (worker.py), which may run on another machine against the same PostgreSQL.
Claims take the oldest queued row with ``FOR UPDATE SKIP LOCKED`` and a state check, so two
processes never run one task. Its state lives in the DB and its logs on disk, so the CLI can
follow it, and so can `bosh-py task N` long after.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bosh_py.director.event_log import TaskLog
from bosh_py.director.models import Task, utcnow
from bosh_py.errors import BoshPyError

log = logging.getLogger(__name__)

UNFINISHED = ("queued", "processing", "cancelling")
POLL_INTERVAL = 0.25  # seconds between a worker's looks for queued tasks and cancellations


@dataclass
class TaskContext:
    id: int
    log: TaskLog
    deployment: str | None


TaskBody = Callable[[TaskContext], Awaitable[str | None]]


@dataclass(frozen=True)
class ClaimedTask:
    id: int
    deployment: str | None
    kind: str
    params: dict[str, Any]


BodyFor = Callable[[ClaimedTask], TaskBody]  # task_kinds.body_for bound to a Director


class TaskRunner:
    def __init__(self, sessions: sessionmaker[Session], tasks_dir: Path, process: str | None = None,
                 queue: str = "") -> None:
        self.sessions = sessions
        self.tasks_dir = tasks_dir
        self.process = process  # the DirectorProcess running these tasks (processes.py reaps a dead one's)
        self.queue = queue  # the director's uuid: its API process and workers share the queue
        self.running: dict[int, asyncio.Task] = {}
        self._queued: asyncio.Event | None = None  # set by submit: wakes this process's ``work``

    def task_log(self, task_id: int) -> TaskLog:
        return TaskLog(self.tasks_dir / str(task_id), task_id)

    def submit(self, description: str, deployment: str | None, kind: str, params: dict[str, Any]) -> int:
        """Queue a task; a worker (or this process's own, ``work``) claims and runs it."""
        with self.sessions.begin() as session:
            task = Task(description=description, deployment_name=deployment, state="queued", kind=kind,
                        params=params, queue=self.queue)
            session.add(task)
            session.flush()
            task_id = task.id
        if self._queued is not None:
            self._queued.set()
        return task_id

    def claim(self) -> ClaimedTask | None:
        """The oldest queued task, now this process's, or None."""
        with self.sessions.begin() as session:
            row = session.scalars(select(Task).where(Task.state == "queued", Task.queue == self.queue,
                                                     Task.kind.is_not(None))
                                  .order_by(Task.id).limit(1).with_for_update(skip_locked=True)).first()
            if row is None:
                return None
            # the state check keeps SQLite (no row locks) from handing one task to two processes
            taken = session.execute(update(Task).where(Task.id == row.id, Task.state == "queued")
                                    .values(state="processing", worker=self.process))
            if taken.rowcount != 1:
                return None
            return ClaimedTask(row.id, row.deployment_name, str(row.kind), dict(row.params or {}))

    async def work(self, body_for: BodyFor, slots: int | None = None) -> None:
        """Claim and run queued tasks until cancelled, at most ``slots`` at once (None: no
        bound); cancel the running ones another process asked to cancel."""
        self._queued = asyncio.Event()
        while True:
            self._queued.clear()  # before the look: a task queued during it wakes the next wait
            if self.running:
                await asyncio.to_thread(self._cancel_requested)
            while slots is None or len(self.running) < slots:
                claimed = await asyncio.to_thread(self.claim)
                if claimed is None:
                    break
                self.start(claimed, body_for)
            try:
                await asyncio.wait_for(self._queued.wait(), POLL_INTERVAL)
            except asyncio.TimeoutError:
                pass

    def start(self, claimed: ClaimedTask, body_for: BodyFor) -> None:
        context = TaskContext(claimed.id, self.task_log(claimed.id), claimed.deployment)
        try:
            body = body_for(claimed)
        except Exception as error:  # noqa: BLE001 - a task whose parameters do not make a body
            body = _failing(error)
        self.running[claimed.id] = asyncio.create_task(self._run(context, body))

    def _cancel_requested(self) -> None:
        with self.sessions() as session:
            asked = set(session.scalars(select(Task.id).where(Task.id.in_(list(self.running)),
                                                              Task.state == "cancelling")))
        for task_id in asked:
            self.cancel_here(task_id)

    async def _run(self, context: TaskContext, body: TaskBody) -> None:
        try:
            result = await body(context)
        except asyncio.CancelledError:
            context.log.error("Task cancelled")
            self._end(context.id, "cancelled", "Task cancelled")
        except BoshPyError as error:
            context.log.error(str(error))
            self._end(context.id, "error", str(error))
        except Exception as error:  # an unexpected failure still ends the task cleanly
            context.log.debug(traceback.format_exc())
            message = f"{error.__class__.__name__}: {error}"
            context.log.error(message)
            self._end(context.id, "error", message)
        else:
            context.log.write_result(result or "")
            self._end(context.id, "done", result or "")
        finally:
            self.running.pop(context.id, None)

    def cancel(self, task_id: int) -> bool:
        """Cancel a task wherever it runs: here at once; queued, before any process takes it;
        in another process, when it next looks (``work``). False: it had ended."""
        if self.cancel_here(task_id):
            return True
        with self.sessions.begin() as session:
            queued = session.execute(update(Task).where(Task.id == task_id, Task.state == "queued").values(
                state="cancelled", result="Task cancelled", ended_at=utcnow(), params=None)).rowcount
            asked = session.execute(update(Task).where(Task.id == task_id, Task.state == "processing")
                                    .values(state="cancelling")).rowcount
        if queued:
            self.task_log(task_id).error("Task cancelled")
        return bool(queued or asked)

    def cancel_here(self, task_id: int) -> bool:
        running = self.running.get(task_id)
        if running is None:
            return False
        running.cancel()
        return True

    def _end(self, task_id: int, state: str, result: str) -> None:
        """Only an unfinished task ends here: one another process reaped (this one stalled past
        its heartbeat's lapse) keeps the reason it was failed with. Its parameters go with it."""
        with self.sessions.begin() as session:
            session.execute(update(Task).where(Task.id == task_id, Task.state.in_(UNFINISHED))
                            .values(state=state, result=result, ended_at=utcnow(), params=None))

    def get(self, task_id: int) -> Task | None:
        with self.sessions() as session:
            return session.get(Task, task_id)

    def list(self, deployment: str | None = None, limit: int = 30, recent: bool = True) -> list[Task]:
        with self.sessions() as session:
            query = select(Task).order_by(Task.id.desc()).limit(limit)
            if deployment:
                query = query.where(Task.deployment_name == deployment)
            if not recent:
                query = query.where(Task.state.in_(UNFINISHED))
            return list(session.scalars(query))

    def unfinished(self, task_ids: list[int]) -> set[int]:
        """Which of these tasks are queued or running, in any process."""
        if not task_ids:
            return set()
        with self.sessions() as session:
            return set(session.scalars(select(Task.id).where(Task.id.in_(task_ids), Task.state.in_(UNFINISHED))))

    async def stop(self) -> None:
        """Cancel the tasks this process runs and wait until each has ended (a clean stop)."""
        for running in list(self.running.values()):
            running.cancel()
        await self.wait_all()

    async def wait_all(self) -> None:
        if self.running:
            await asyncio.gather(*self.running.values(), return_exceptions=True)


def _failing(error: Exception) -> TaskBody:
    async def body(_context: TaskContext) -> str | None:
        raise BoshPyError(f"This task cannot run: {error}")
    return body
