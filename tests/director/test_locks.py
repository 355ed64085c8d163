import asyncio
from datetime import timedelta

import pytest

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
