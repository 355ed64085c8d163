"""Director processes in the database (processes.py) and leases (leases.py), on SQLite and
a real PostgreSQL server: a process that is gone has its unfinished tasks failed with the
reason and its locks released; a live one's are left alone; one lease holder at a time."""

from __future__ import annotations

import asyncio
import subprocess
import time
from datetime import timedelta
from pathlib import Path

from bosh_py.director.db import open_database
from bosh_py.director.leases import LeaseManager
from bosh_py.director.locks import LockManager
from bosh_py.director.models import DirectorProcess, Lease, Lock, Task, utcnow
from bosh_py.director.processes import ProcessIdentity, ProcessRegistry
from bosh_py.director.tasks import TaskRunner

TTL = 30


def ended_pid() -> int:
    """The pid of a process that has just ended (reaped), so it no longer runs."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def add_task(sessions, worker: str | None, state: str = "processing") -> int:
    with sessions.begin() as session:
        task = Task(description="deploy", deployment_name="web", state=state, worker=worker)
        session.add(task)
        session.flush()
        return task.id


def task(sessions, task_id: int) -> Task:
    with sessions() as session:
        return session.get(Task, task_id)


def test_a_restarted_director_fails_its_predecessors_tasks_at_once(db_url):
    sessions = open_database(db_url)
    before = ProcessRegistry(sessions, TTL, ProcessIdentity("before", "host-a", ended_pid()))
    before.register()
    running, done = add_task(sessions, "before"), add_task(sessions, "before", state="done")
    LockManager(sessions, TTL).acquire("deployment:web", running)

    failed = ProcessRegistry(sessions, TTL, ProcessIdentity("after", "host-a", 1)).register()

    assert failed == [running]
    assert task(sessions, running).state == "error"
    assert task(sessions, running).result == (f"The director process running this task "
                                              f"(pid {before.identity.pid} on host-a) ended while it ran")
    assert task(sessions, done).state == "done"
    assert LockManager(sessions, TTL).active() == []  # the lock went with its task
    with sessions() as session:
        assert session.get(DirectorProcess, "before") is None


def test_a_killed_director_not_yet_reaped_by_init_counts_as_ended(db_url):
    """A zombie (killed, its parent not waiting yet) still takes signal 0: it is not running."""
    sessions = open_database(db_url)
    zombie = subprocess.Popen(["sleep", "60"])
    try:
        zombie.kill()
        while Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            time.sleep(0.01)
        ProcessRegistry(sessions, TTL, ProcessIdentity("killed", "host-a", zombie.pid)).register()
        theirs = add_task(sessions, "killed")
        assert ProcessRegistry(sessions, TTL, ProcessIdentity("next", "host-a", 1)).register() == [theirs]
    finally:
        zombie.wait()


def test_a_live_process_elsewhere_is_left_alone_until_its_heartbeat_lapses(db_url):
    sessions = open_database(db_url)
    other = ProcessRegistry(sessions, TTL, ProcessIdentity("other", "host-b", 4242))
    other.register()
    theirs = add_task(sessions, "other")
    LockManager(sessions, TTL).acquire("deployment:web", theirs)
    me = ProcessRegistry(sessions, TTL, ProcessIdentity("me", "host-a", 1))
    me.register()

    assert me.reap() == []
    assert task(sessions, theirs).state == "processing"

    other.renew()
    assert me.reap(now=utcnow() + timedelta(seconds=TTL - 5)) == []  # renewed: alive
    assert me.reap(now=utcnow() + timedelta(seconds=TTL + 5)) == [theirs]  # no renewal for a ttl
    result = task(sessions, theirs).result
    assert "pid 4242 on host-b" in result and "stopped" in result and "last heard from" in result
    with sessions() as session:
        assert session.get(Lock, "deployment:web") is None


def test_tasks_from_before_processes_were_recorded_are_failed_by_the_first_start(db_url):
    sessions = open_database(db_url)
    legacy = add_task(sessions, None, state="queued")
    assert ProcessRegistry(sessions, TTL, ProcessIdentity("first", "host-a", 1)).register() == [legacy]
    assert task(sessions, legacy).state == "error"


def test_a_task_the_reaper_failed_keeps_its_reason(tmp_path, db_url):
    """A process that stalled past its lapse and then finishes does not overwrite the reason."""
    sessions = open_database(db_url)
    runner = TaskRunner(sessions, tmp_path / "tasks", process="stalled")

    async def body(ctx):
        with sessions.begin() as session:  # the reaper's verdict, while the body still runs
            session.get(Task, ctx.id).state = "error"
            session.get(Task, ctx.id).result = "stopped: last heard from at ..."
        return "done after all"

    async def go() -> int:
        task_id = runner.submit("deploy", "web", "deploy", {})
        runner.start(runner.claim(), lambda _claimed: body)
        await runner.wait_all()
        return task_id

    task_id = asyncio.run(go())
    assert task(sessions, task_id).state == "error"
    assert task(sessions, task_id).result == "stopped: last heard from at ..."
    assert task(sessions, task_id).worker == "stalled"


def test_one_lease_holder_at_a_time_and_a_lapsed_lease_is_taken_over(db_url):
    sessions = open_database(db_url)
    first, second = LeaseManager(sessions, "first", 0.5), LeaseManager(sessions, "second", 0.5)
    assert first.hold("health-monitor") is True
    assert second.hold("health-monitor") is False
    assert first.hold("health-monitor") is True  # renewed by its holder
    assert second.holder_of("health-monitor") == "first"
    with sessions.begin() as session:  # first stopped renewing half a second ago
        session.get(Lease, "health-monitor").expires_at = utcnow()
    assert second.hold("health-monitor") is True
    assert first.hold("health-monitor") is False
    second.release("health-monitor")
    assert first.holder_of("health-monitor") is None
