"""Deployment locks: a DB row with an expiry that its holder renews while it works.

A director that dies stops renewing, so its locks lapse after ``ttl`` seconds and nothing
stays locked forever; a second deploy meanwhile gets an error naming the holding task.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import AsyncIterator

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bosh_py.director.models import Lock, Task, utcnow
from bosh_py.errors import BoshPyError


log = logging.getLogger(__name__)


class LockError(BoshPyError):
    pass


class LockManager:
    def __init__(self, sessions: sessionmaker[Session], ttl: int = 60) -> None:
        self.sessions = sessions
        self.ttl = ttl

    def acquire(self, name: str, task_id: int) -> None:
        """Take the lock or fail naming its holder. The row is read FOR UPDATE and a racing
        insert surfaces as IntegrityError, so two directors sharing one PostgreSQL database
        cannot both win."""
        try:
            with self.sessions.begin() as session:
                lock = session.get(Lock, name, with_for_update=True)
                now = utcnow()
                if lock is not None and lock.expires_at > now and lock.task_id != task_id:
                    raise self._held(session, name, lock.task_id)
                expires = now + timedelta(seconds=self.ttl)
                if lock is None:
                    session.add(Lock(name=name, task_id=task_id, expires_at=expires))
                else:
                    lock.task_id, lock.expires_at = task_id, expires
        except IntegrityError:
            with self.sessions() as session:
                lock = session.get(Lock, name)
                raise self._held(session, name, lock.task_id if lock else 0) from None

    @staticmethod
    def _held(session: Session, name: str, holder_id: int) -> LockError:
        holder = session.get(Task, holder_id)
        what = f" ({holder.description})" if holder else ""
        return LockError(f"Failed to acquire lock for {name}: it is held by task {holder_id}{what}. "
                         f"Wait for it to finish (`bosh-py task {holder_id}`).")

    def renew(self, name: str, task_id: int) -> bool:
        """False once the lock is no longer the task's (another director process reaped it)."""
        with self.sessions.begin() as session:
            lock = session.get(Lock, name)
            if lock is None or lock.task_id != task_id:
                return False
            lock.expires_at = utcnow() + timedelta(seconds=self.ttl)
            return True

    def release(self, name: str, task_id: int) -> None:
        with self.sessions.begin() as session:
            session.execute(delete(Lock).where(Lock.name == name, Lock.task_id == task_id))

    def active(self) -> list[Lock]:
        with self.sessions() as session:
            return list(session.scalars(select(Lock).where(Lock.expires_at > utcnow())))

    @asynccontextmanager
    async def hold(self, name: str, task_id: int) -> AsyncIterator[None]:
        self.acquire(name, task_id)
        holder = asyncio.current_task()
        assert holder is not None, "hold() runs inside the task it locks for"
        renewer = asyncio.create_task(self._renew_forever(name, task_id, holder))
        try:
            yield
        finally:
            renewer.cancel()
            self.release(name, task_id)

    async def _renew_forever(self, name: str, task_id: int, holder: asyncio.Task) -> None:
        """Renew every ttl/3; a failed renewal (a busy database) is retried next round rather
        than silently ending the renewals while the task still works. A lock that is gone or
        another task's (this process stalled past its lapse and was reaped as dead) stops the
        task: it must not go on changing a deployment it no longer holds."""
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                ours = await asyncio.to_thread(self.renew, name, task_id)
            except Exception:  # noqa: BLE001 - two more tries before the lock could lapse
                log.exception("renewing lock %s failed; retrying", name)
                continue
            if not ours:
                log.error("task %d lost lock %s (reaped while this director process stalled); stopping it",
                          task_id, name)
                holder.cancel()
                return
