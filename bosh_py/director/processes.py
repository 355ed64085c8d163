"""Director processes in the database: each one a row it renews, so the others can tell a
live one from a dead one, and a dead one's tasks end "error" with the reason instead of
staying "processing" for ever.

BOSH's workers are found dead the same way (a heartbeat that lapses). Here every director
process registers (``register``), renews its row every ``ttl / 3`` seconds, and reaps
(``reap``): a process whose row has not been renewed for ``ttl`` seconds is gone, and so is
one on this host whose pid no longer runs (a restarted director reaps its predecessor at
once, without waiting the ttl). Reaping a process fails the tasks it ran, with when and
where it was last heard from, releases the locks those tasks held, and deletes its row.
Tasks that name no process but were taken (before migration 0006), or queued without a kind
to run (before 0007), are reaped by the first process that starts; queued ones wait for a
worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from bosh_py.director.models import DirectorProcess, Lock, Task, utcnow
from bosh_py.director.tasks import UNFINISHED

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessIdentity:
    name: str
    host: str
    pid: int

    @classmethod
    def of_this_process(cls) -> "ProcessIdentity":
        return cls(uuid.uuid4().hex, socket.gethostname(), os.getpid())


def pid_runs(pid: int) -> bool:
    """Whether ``pid`` runs on this host; a zombie does not (a killed director stays one until
    init reaps it, and signal 0 still reaches it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def _why(process: DirectorProcess, ended: bool) -> str:
    where = f"pid {process.pid} on {process.host}"
    if ended:
        return f"The director process running this task ({where}) ended while it ran"
    return (f"The director process running this task ({where}) stopped: last heard from at "
            f"{process.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC")


class ProcessRegistry:
    def __init__(self, sessions: sessionmaker[Session], ttl: float,
                 identity: ProcessIdentity | None = None) -> None:
        self.sessions = sessions
        self.ttl = ttl
        self.identity = identity or ProcessIdentity.of_this_process()

    @property
    def name(self) -> str:
        return self.identity.name

    def register(self) -> list[int]:
        """Join, then reap at once what is already gone; returns the task ids it failed."""
        with self.sessions.begin() as session:
            session.add(DirectorProcess(name=self.identity.name, host=self.identity.host, pid=self.identity.pid))
        return self.reap(orphans=True)

    def renew(self) -> None:
        with self.sessions.begin() as session:
            session.execute(update(DirectorProcess).where(DirectorProcess.name == self.identity.name)
                            .values(heartbeat_at=utcnow()))

    def unregister(self) -> None:
        """A clean stop: its tasks were cancelled and ended already."""
        with self.sessions.begin() as session:
            session.execute(delete(DirectorProcess).where(DirectorProcess.name == self.identity.name))

    def reap(self, orphans: bool = False, now: datetime | None = None) -> list[int]:
        """Fail the unfinished tasks of every process that is gone (and, with ``orphans``, of
        none at all); returns their ids."""
        now = now or utcnow()
        lapsed_before = now - timedelta(seconds=self.ttl)
        failed: list[int] = []
        with self.sessions.begin() as session:
            # SKIP LOCKED: two processes reaping at once each take a dead one, never both
            others = list(session.scalars(select(DirectorProcess).where(DirectorProcess.name != self.identity.name)
                                          .with_for_update(skip_locked=True)))
            for process in others:
                ended = process.host == self.identity.host and not pid_runs(process.pid)
                if not ended and process.heartbeat_at >= lapsed_before:
                    continue
                its_tasks = self._fail_tasks(session, Task.worker == process.name, _why(process, ended), now)
                session.delete(process)
                log.warning("director process %s (pid %d on %s) is gone; failed its tasks %s",
                            process.name, process.pid, process.host, its_tasks or "(none)")
                failed += its_tasks
            if orphans:
                # queued ones wait for a worker, unless they carry no kind to run (before 0007)
                failed += self._fail_tasks(session, Task.worker.is_(None) & ((Task.state != "queued")
                                                                             | Task.kind.is_(None)),
                                           "The director restarted while this task ran", now)
        return failed

    @staticmethod
    def _fail_tasks(session: Session, owned, reason: str, now: datetime) -> list[int]:  # type: ignore[no-untyped-def]
        ids = list(session.scalars(select(Task.id).where(owned, Task.state.in_(UNFINISHED))))
        if ids:
            session.execute(update(Task).where(Task.id.in_(ids))
                            .values(state="error", result=reason, ended_at=now, params=None))
            session.execute(delete(Lock).where(Lock.task_id.in_(ids)))
        return ids

    async def run_forever(self) -> None:
        """Renew and reap every ttl/3; a failed round (a busy database) is retried next round."""
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                await asyncio.to_thread(self.renew)
                await asyncio.to_thread(self.reap)
            except Exception:  # noqa: BLE001 - two more tries before this process could lapse
                log.exception("renewing director process %s failed; retrying", self.identity.name)
