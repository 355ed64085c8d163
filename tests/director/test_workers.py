"""`director start --workers N`: the API process queues, N worker processes run the tasks
(real director, real PostgreSQL, dummy-CPI VMs that are real agent processes). A worker
killed with SIGKILL mid-task has its task failed with the reason and its lock released, is
replaced, and the next deploy converges; a stopped director leaves no worker behind."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from sqlalchemy import select

from bosh_py.director.db import open_database
from bosh_py.director.models import DirectorProcess, Lock, Task
from tests.director.dummy_support import DummyDirector, start_slow_deploy, wait_for_task_state
from tests.harness import stop_orphaned_nats, wait_until

TTL = 4


def worker_pids(director: DummyDirector) -> set[int]:
    """The worker processes the director's API process started (its children running the module)."""
    api = int((director.data_dir / "director.pid").read_text())
    children = Path(f"/proc/{api}/task/{api}/children").read_text().split()
    return {int(pid) for pid in children
            if b"bosh_py.director.worker" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")}


def test_workers_run_the_tasks_and_a_killed_one_is_failed_replaced_and_the_redeploy_converges(postgres, tmp_path):
    url = postgres.create_database()
    sessions = open_database(url)
    director = DummyDirector(tmp_path / "d", config={"db_url": url, "lock_ttl": TTL, "workers": 2})
    deploying = None
    workers: set[int] = set()
    replaced: set[int] = set()
    try:
        director.start()
        workers = wait_until(lambda: worker_pids(director) if len(worker_pids(director)) == 2 else None, 30,
                             message="two workers")
        director.cli("deploy", "-n", str(director.manifest(instances=3)))
        with sessions() as session:
            ran = session.scalars(select(Task).where(Task.description == "create deployment")).one()
            pids = {p.name: p.pid for p in session.scalars(select(DirectorProcess))}
        assert pids[ran.worker] in workers  # a worker ran it, not the API process
        assert len(director.json("instances", "-d", "dummy")) == 3

        deploying = start_slow_deploy(director, 30_000, instances=3, greeting="slow")

        def held() -> Lock | None:
            with sessions() as session:
                return session.get(Lock, "deployment:dummy")

        lock = wait_until(lambda: held() or deploying.poll() is not None, 60, message="the deploy to take its lock")
        assert deploying.poll() is None, deploying.communicate()[0]
        with sessions() as session:
            running = session.get(Task, lock.task_id)
            victim = session.get(DirectorProcess, running.worker).pid
        os.kill(victim, signal.SIGKILL)

        task = wait_for_task_state(sessions, lock.task_id, "error", 3 * TTL)  # the killed worker's
        assert task.result == (f"The director process running this task (pid {victim} on "
                               f"{os.uname().nodename}) ended while it ran")
        assert held() is None and task.params is None
        deploying.wait(60)
        replaced = wait_until(lambda: worker_pids(director) if len(worker_pids(director)) == 2 and
                              victim not in worker_pids(director) else None, 30, message="a new worker")

        director.cli("deploy", "-n", str(director.manifest(instances=3, greeting="after")))
        assert {r["process_state"] for r in director.json("instances", "-d", "dummy", "--ps")} == {"running"}
        assert len(director.vms()) == 3
    finally:
        if deploying is not None and deploying.poll() is None:
            deploying.kill()
            deploying.wait()
        stop_orphaned_nats(director.data_dir)
        director.stop()
    time.sleep(0.5)
    for pid in replaced | workers:
        assert not Path(f"/proc/{pid}").exists() or b"bosh_py.director.worker" not in \
            Path(f"/proc/{pid}/cmdline").read_bytes(), f"worker {pid} outlived the director"


def test_cancel_task_reaches_a_task_a_worker_runs(postgres, tmp_path):
    url = postgres.create_database()
    sessions = open_database(url)
    director = DummyDirector(tmp_path / "d", config={"db_url": url, "workers": 1})
    deploying = None
    try:
        director.start()
        deploying = start_slow_deploy(director, 60_000, instances=1)

        def running() -> Task | None:
            with sessions() as session:
                task = session.scalars(select(Task).where(Task.description == "create deployment")).first()
                return task if task is not None and task.state == "processing" else None

        task = wait_until(running, 60, message="the deploy to start in the worker")
        assert "Cancelling task" in director.cli("cancel-task", str(task.id)).stdout

        wait_for_task_state(sessions, task.id, "cancelled", 30)  # cancelled in the worker
        with sessions() as session:
            assert session.get(Lock, "deployment:dummy") is None
        again = director.cli("cancel-task", str(task.id), check=False)
        assert again.returncode == 1 and f"Task {task.id} has already ended" in again.stdout
        output, _ = deploying.communicate(timeout=30)
        assert deploying.returncode == 1 and f"Task {task.id} cancelled" in output, output
    finally:
        if deploying is not None and deploying.poll() is None:
            deploying.kill()
            deploying.wait()
        stop_orphaned_nats(director.data_dir)
        director.stop()
