"""Tasks: every change the director makes runs as a numbered task with its own logs.

A task is a coroutine run in the director's event loop; its state lives in the DB and its
logs on disk, so the CLI can follow it, and so can `bosh-py task N` long after.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bosh_py.director.event_log import TaskLog
from bosh_py.director.models import Task, utcnow
from bosh_py.errors import BoshPyError

log = logging.getLogger(__name__)

UNFINISHED = ("queued", "processing")


@dataclass
class TaskContext:
    id: int
    log: TaskLog
    deployment: str | None


TaskBody = Callable[[TaskContext], Awaitable[str | None]]


class TaskRunner:
    def __init__(self, sessions: sessionmaker[Session], tasks_dir: Path, process: str | None = None) -> None:
        self.sessions = sessions
        self.tasks_dir = tasks_dir
        self.process = process  # the DirectorProcess running these tasks (processes.py reaps a dead one's)
        self.running: dict[int, asyncio.Task] = {}

    def task_log(self, task_id: int) -> TaskLog:
        return TaskLog(self.tasks_dir / str(task_id), task_id)

    def submit(self, description: str, deployment: str | None, body: TaskBody) -> int:
        with self.sessions.begin() as session:
            task = Task(description=description, deployment_name=deployment, state="queued", worker=self.process)
            session.add(task)
            session.flush()
            task_id = task.id
        context = TaskContext(task_id, self.task_log(task_id), deployment)
        self.running[task_id] = asyncio.create_task(self._run(context, body))
        return task_id

    async def _run(self, context: TaskContext, body: TaskBody) -> None:
        self._set(context.id, state="processing")
        try:
            result = await body(context)
        except asyncio.CancelledError:
            context.log.error("Task cancelled")
            self._set(context.id, state="cancelled", result="Task cancelled", ended_at=utcnow())
        except BoshPyError as error:
            context.log.error(str(error))
            self._set(context.id, state="error", result=str(error), ended_at=utcnow())
        except Exception as error:  # an unexpected failure still ends the task cleanly
            context.log.debug(traceback.format_exc())
            message = f"{error.__class__.__name__}: {error}"
            context.log.error(message)
            self._set(context.id, state="error", result=message, ended_at=utcnow())
        else:
            context.log.write_result(result or "")
            self._set(context.id, state="done", result=result or "", ended_at=utcnow())
        finally:
            self.running.pop(context.id, None)

    def cancel(self, task_id: int) -> bool:
        running = self.running.get(task_id)
        if running is None:
            return False
        running.cancel()
        return True

    def _set(self, task_id: int, **values: object) -> None:
        """Only an unfinished task changes: one another process reaped (this one stalled past
        its heartbeat's lapse) keeps the reason it was failed with."""
        with self.sessions.begin() as session:
            session.execute(update(Task).where(Task.id == task_id, Task.state.in_(UNFINISHED)).values(**values))

    def get(self, task_id: int) -> Task | None:
        with self.sessions() as session:
            return session.get(Task, task_id)

    def list(self, deployment: str | None = None, limit: int = 30, recent: bool = True) -> list[Task]:
        with self.sessions() as session:
            query = select(Task).order_by(Task.id.desc()).limit(limit)
            if deployment:
                query = query.where(Task.deployment_name == deployment)
            if not recent:
                query = query.where(Task.state.in_(["queued", "processing"]))
            return list(session.scalars(query))

    async def wait_all(self) -> None:
        if self.running:
            await asyncio.gather(*self.running.values(), return_exceptions=True)
