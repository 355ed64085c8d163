"""Tasks queue in the database and run in whichever director process claims them (tasks.py),
on SQLite and on PostgreSQL (the ``db_url`` fixture runs each test on both)."""

from __future__ import annotations

import asyncio
import threading

from bosh_py.director.db import open_database
from bosh_py.director.models import Task
from bosh_py.director.processes import ProcessIdentity, ProcessRegistry
from bosh_py.director.tasks import TaskRunner


def row(sessions, task_id: int) -> Task:
    with sessions() as session:
        return session.get(Task, task_id)


def test_tasks_are_claimed_oldest_first_each_by_one_process(tmp_path, db_url):
    sessions = open_database(db_url)
    api, first, second = (TaskRunner(sessions, tmp_path / "tasks", name) for name in ("api", "w1", "w2"))
    ids = [api.submit(f"task {n}", None, "clean_up", {"all": False}) for n in range(3)]
    claimed = [first.claim(), second.claim(), first.claim(), second.claim()]
    assert [c.id if c else None for c in claimed] == [ids[0], ids[1], ids[2], None]
    assert claimed[0].kind == "clean_up" and claimed[0].params == {"all": False}
    assert [row(sessions, i).worker for i in ids] == ["w1", "w2", "w1"]
    assert {row(sessions, i).state for i in ids} == {"processing"}


def test_processes_claiming_at_once_never_share_a_task(tmp_path, db_url):
    sessions = open_database(db_url)
    runners = [TaskRunner(sessions, tmp_path / "tasks", f"w{n}") for n in range(4)]
    ids = {runners[0].submit("t", None, "clean_up", {"all": False}) for _ in range(20)}
    got: list[int] = []
    lock = threading.Lock()

    def drain(runner: TaskRunner) -> None:
        while (claimed := runner.claim()) is not None:
            with lock:
                got.append(claimed.id)

    threads = [threading.Thread(target=drain, args=(r,)) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(got) == sorted(ids)  # every task once, none twice


def test_a_worker_runs_what_it_claims_and_the_parameters_go_when_it_ends(tmp_path, db_url):
    sessions = open_database(db_url)
    api, worker = TaskRunner(sessions, tmp_path / "tasks", "api"), TaskRunner(sessions, tmp_path / "tasks", "w1")
    seen: list[dict] = []

    def body_for(claimed):
        async def body(ctx):
            seen.append(claimed.params)
            return f"ran {claimed.kind}"
        return body

    async def go() -> int:
        working = asyncio.create_task(worker.work(body_for, slots=1))
        task_id = api.submit("deploy web", "web", "deploy", {"manifest": "name: web", "cli_variables": {"pw": "s"}})
        for _ in range(100):
            if row(sessions, task_id).state == "done":
                break
            await asyncio.sleep(0.05)
        working.cancel()
        return task_id

    task_id = asyncio.run(go())
    done = row(sessions, task_id)
    assert (done.state, done.result, done.worker) == ("done", "ran deploy", "w1")
    assert seen == [{"manifest": "name: web", "cli_variables": {"pw": "s"}}]
    assert done.params is None  # a deploy's -v values do not outlive it


def test_a_kind_this_director_does_not_know_fails_the_task_saying_so(tmp_path, db_url):
    sessions = open_database(db_url)
    runner = TaskRunner(sessions, tmp_path / "tasks", "w1")

    def body_for(claimed):
        raise ValueError(f"unknown task kind '{claimed.kind}'")

    async def go() -> int:
        task_id = runner.submit("future", None, "teleport", {})
        runner.start(runner.claim(), body_for)
        await runner.wait_all()
        return task_id

    failed = row(sessions, asyncio.run(go()))
    assert failed.state == "error" and failed.result == "This task cannot run: unknown task kind 'teleport'"


def test_cancel_reaches_a_queued_task_and_one_another_process_runs(tmp_path, db_url):
    sessions = open_database(db_url)
    api, worker = TaskRunner(sessions, tmp_path / "tasks", "api"), TaskRunner(sessions, tmp_path / "tasks", "w1")
    started = threading.Event()

    def body_for(_claimed):
        async def body(ctx):
            started.set()
            await asyncio.sleep(60)
        return body

    async def go() -> tuple[int, int]:
        running = api.submit("long", None, "deploy", {})
        waiting = api.submit("next", None, "deploy", {})
        working = asyncio.create_task(worker.work(body_for, slots=1))
        while not started.is_set():
            await asyncio.sleep(0.05)
        assert api.cancel(waiting) is True  # queued: cancelled at once, never claimed
        assert row(sessions, waiting).state == "cancelled"
        assert api.cancel(running) is True  # in the worker: asked through the database
        for _ in range(100):
            if row(sessions, running).state == "cancelled":
                break
            await asyncio.sleep(0.05)
        working.cancel()
        await worker.wait_all()
        return running, waiting

    running, waiting = asyncio.run(go())
    assert row(sessions, running).state == "cancelled" and row(sessions, running).result == "Task cancelled"
    assert row(sessions, waiting).worker is None  # no process ever took it
    assert api.cancel(running) is False  # ended: nothing to cancel


def test_queued_tasks_wait_for_a_worker_across_restarts_but_kindless_ones_from_before_are_failed(tmp_path, db_url):
    sessions = open_database(db_url)
    queued = TaskRunner(sessions, tmp_path / "tasks").submit("deploy", "web", "deploy", {})
    with sessions.begin() as session:
        legacy = Task(description="deploy", deployment_name="web", state="queued")
        session.add(legacy)
        session.flush()
        legacy_id = legacy.id
    assert ProcessRegistry(sessions, 60, ProcessIdentity("first", "host-a", 1)).register() == [legacy_id]
    assert row(sessions, queued).state == "queued"
    assert row(sessions, legacy_id).state == "error"


def test_two_directors_sharing_a_database_never_take_each_others_tasks(tmp_path, db_url):
    sessions = open_database(db_url)
    mine, other = TaskRunner(sessions, tmp_path / "a", "a", queue="uuid-a"), TaskRunner(sessions, tmp_path / "b", "b",
                                                                                          queue="uuid-b")
    task_id = mine.submit("deploy", "web", "deploy", {})
    assert other.claim() is None
    assert mine.claim().id == task_id
