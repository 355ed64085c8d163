import asyncio
import logging
import sqlite3
from datetime import timedelta

import pytest
from sqlalchemy import event

from bosh_py.director.db import open_database
from bosh_py.director.locks import LockError, LockManager
from bosh_py.director.models import Lock, Task, utcnow


@pytest.fixture
def sessions(db_url):
    return open_database(db_url)


def add_task(sessions, description: str) -> int:
    with sessions.begin() as session:
        task = Task(description=description, deployment_name="nats")
        session.add(task)
        session.flush()
        return task.id


def test_second_holder_gets_error_naming_the_task(sessions):
    locks = LockManager(sessions, ttl=60)
    first, second = add_task(sessions, "create deployment"), add_task(sessions, "create deployment")
    locks.acquire("deployment:nats", first)
    with pytest.raises(LockError) as error:
        locks.acquire("deployment:nats", second)
    assert f"held by task {first} (create deployment)" in str(error.value)
    locks.release("deployment:nats", first)
    locks.acquire("deployment:nats", second)
    assert [lock.task_id for lock in locks.active()] == [second]


def test_lock_of_a_dead_holder_lapses(sessions):
    locks = LockManager(sessions, ttl=60)
    dead, alive = add_task(sessions, "deploy"), add_task(sessions, "deploy")
    locks.acquire("deployment:nats", dead)
    with sessions.begin() as session:  # the holder stopped renewing a while ago
        session.get(Lock, "deployment:nats").expires_at = utcnow() - timedelta(seconds=1)
    assert locks.active() == []
    locks.acquire("deployment:nats", alive)
    assert locks.active()[0].task_id == alive


def test_hold_releases_even_on_failure(sessions):
    locks = LockManager(sessions, ttl=60)
    task_id = add_task(sessions, "deploy")

    async def failing() -> None:
        async with locks.hold("deployment:nats", task_id):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        asyncio.run(failing())
    assert locks.active() == []


def test_a_failed_renewal_is_retried_so_the_lock_never_lapses_under_its_task(tmp_path, caplog):
    """Review fix: a renewal that fails (here: another writer holds SQLite's write lock past
    the busy timeout) is retried next round; before, the renewer died silently, the lock
    expired while the deploy still ran, and a second deploy could take it."""
    path = tmp_path / "director.db"
    sessions = open_database(f"sqlite:///{path}")
    event.listen(sessions.kw["bind"], "connect",  # fail fast instead of after the 10 s default
                 lambda connection, _record: connection.execute("PRAGMA busy_timeout=100"))
    sessions.kw["bind"].dispose()
    locks = LockManager(sessions, ttl=3)  # renewed every second
    holder, rival = add_task(sessions, "deploy"), add_task(sessions, "deploy")
    other_writer = sqlite3.connect(path, isolation_level=None)

    async def deploy_while_the_database_is_busy() -> None:
        async with locks.hold("deployment:nats", holder):
            other_writer.execute("BEGIN IMMEDIATE")  # the renewals at 1 s and 2 s fail
            await asyncio.sleep(2.5)
            other_writer.execute("ROLLBACK")
            await asyncio.sleep(1.7)  # past the first expiry (3 s): only a retried renewal keeps it
            assert [(lock.name, lock.task_id) for lock in locks.active()] == [("deployment:nats", holder)]
            with pytest.raises(LockError, match=f"held by task {holder}"):
                locks.acquire("deployment:nats", rival)

    try:
        with caplog.at_level(logging.ERROR, logger="bosh_py.director.locks"):
            asyncio.run(deploy_while_the_database_is_busy())
    finally:
        other_writer.close()
    assert "renewing lock deployment:nats failed; retrying" in caplog.text
    assert locks.active() == []


def test_a_task_whose_lock_was_reaped_is_stopped(sessions):
    """Another director process took this one for dead (it stalled past its lapse) and
    released its task's lock: the task stops instead of changing the deployment unlocked."""
    locks = LockManager(sessions, ttl=0.6)  # renewed every 0.2 s
    holder = add_task(sessions, "deploy")
    reached: list[str] = []

    async def deploy() -> None:
        async with locks.hold("deployment:nats", holder):
            with sessions.begin() as session:  # what the reaper does (processes.py)
                session.delete(session.get(Lock, "deployment:nats"))
            await asyncio.sleep(5)
            reached.append("went on unlocked")

    async def run() -> None:
        task = asyncio.create_task(deploy())
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 3)

    asyncio.run(run())
    assert reached == []
