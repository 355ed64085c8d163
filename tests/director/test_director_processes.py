"""Two real director processes on one real PostgreSQL database: a live one keeps renewing the
lock of the task it runs (the other leaves it alone however long it takes); one killed with
SIGKILL mid-deploy has that task failed with the reason and its lock released by the other,
and the health monitor, which runs in one of them only, moves to the survivor."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from sqlalchemy import select

from bosh_py.director.db import open_database
from bosh_py.director.leases import HEALTH_MONITOR
from bosh_py.director.models import DirectorProcess, Lease, Lock, Task, utcnow
from tests.director.dummy_support import DummyDirector, start_slow_deploy, wait_for_task_state
from tests.harness import stop_orphaned_nats, wait_until

TTL = 4  # lock_ttl: locks, process heartbeats and the health monitor's lease
WATCH_MS = 40_000  # the canary is watched this long: the deploy outlives many TTLs


def director_pid(director: DummyDirector) -> int:
    return int((director.data_dir / "director.pid").read_text())


def process_name(sessions, pid: int) -> str | None:
    with sessions() as session:
        return session.scalar(select(DirectorProcess.name).where(DirectorProcess.pid == pid))


def monitor_holder(sessions) -> str | None:
    with sessions() as session:
        lease = session.get(Lease, HEALTH_MONITOR)
        return lease.holder if lease is not None and lease.expires_at > utcnow() else None


def test_a_killed_directors_task_fails_and_its_lock_lapses_while_a_live_ones_is_renewed(postgres, tmp_path: Path):
    url = postgres.create_database()
    config = {"db_url": url, "lock_ttl": TTL}
    first, second = DummyDirector(tmp_path / "first", config=config), DummyDirector(tmp_path / "second", config=config)
    deploying = None
    try:
        first.start()
        second.start()
        sessions = open_database(url)
        names = {process_name(sessions, director_pid(d)): d for d in (first, second)}
        assert None not in names, "each director process registered itself"
        holder = wait_until(lambda: monitor_holder(sessions), 3 * TTL, message="a health monitor leader")
        assert names[holder] is first  # the first to start leads; the second stands by

        deploying = start_slow_deploy(first, WATCH_MS, instances=1)

        def held() -> Lock | None:
            with sessions() as session:
                return session.get(Lock, "deployment:dummy")

        lock = wait_until(lambda: held() or deploying.poll() is not None, 60, message="the deploy to take its lock")
        assert deploying.poll() is None, deploying.communicate()[0]
        first_expiry = lock.expires_at
        time.sleep(3 * TTL)  # three lock lifetimes: only renewals keep it
        renewed = held()
        assert renewed is not None and renewed.task_id == lock.task_id and renewed.expires_at > first_expiry
        with sessions() as session:
            assert session.get(Task, lock.task_id).state == "processing"  # the other director left it alone

        os.kill(director_pid(first), signal.SIGKILL)

        task = wait_for_task_state(sessions, lock.task_id, "error", 3 * TTL)  # the killed director's
        assert task.result == (f"The director process running this task (pid {director_pid(first)} on "
                               f"{os.uname().nodename}) ended while it ran")
        assert held() is None
        survivor = process_name(sessions, director_pid(second))
        wait_until(lambda: monitor_holder(sessions) == survivor or None, 3 * TTL,
                   message="the survivor to take the health monitor over")
        with sessions() as session:
            assert [p.pid for p in session.scalars(select(DirectorProcess))] == [director_pid(second)]
    finally:
        if deploying is not None:
            deploying.kill()
            deploying.wait()
        stop_orphaned_nats(first.data_dir)
        first.stop()
        second.stop()
