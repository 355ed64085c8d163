import asyncio
import json

from bosh_py.director.db import open_database
from bosh_py.director.tasks import TaskRunner
from bosh_py.errors import BoshPyError


def run_task(tmp_path, db_url, body):
    sessions = open_database(db_url)
    runner = TaskRunner(sessions, tmp_path / "tasks")

    async def go():
        task_id = runner.submit("test task", "nats", "test", {})
        runner.start(runner.claim(), lambda _claimed: body)
        await runner.wait_all()
        return task_id

    task_id = asyncio.run(go())
    return runner, task_id


def test_task_records_events_and_result(tmp_path, db_url):
    async def body(ctx):
        stage = ctx.log.stage("Updating instance", 1, ["nats"])
        with stage.task("nats/0 (canary)"):
            pass
        return "all good"

    runner, task_id = run_task(tmp_path, db_url, body)
    task = runner.get(task_id)
    assert task.state == "done" and task.result == "all good"
    events = [json.loads(line) for line in runner.task_log(task_id).event_path.read_text().splitlines()]
    assert [e["state"] for e in events] == ["started", "finished"]
    assert events[0]["stage"] == "Updating instance" and events[0]["tags"] == ["nats"]


def test_failed_task_keeps_the_error(tmp_path, db_url):
    async def body(ctx):
        with ctx.log.stage("Compiling packages", 1).task("nats-server/abc"):
            raise BoshPyError("packaging failed: line 3: make: not found")

    runner, task_id = run_task(tmp_path, db_url, body)
    task = runner.get(task_id)
    assert task.state == "error" and "make: not found" in task.result
    lines = [json.loads(line) for line in runner.task_log(task_id).event_path.read_text().splitlines()]
    assert lines[1]["state"] == "failed" and "make: not found" in lines[1]["data"]["error"]
    assert lines[-1]["error"]["message"] == "packaging failed: line 3: make: not found"


def test_reading_a_task_log_creates_nothing_until_the_task_writes(tmp_path, db_url):
    """`GET /tasks/<n>/output` for a task that never ran used to create its directory."""
    runner = TaskRunner(open_database(db_url), tmp_path / "tasks")
    log = runner.task_log(424242)
    assert not log.event_path.exists()
    assert not (tmp_path / "tasks" / "424242").exists()
    log.info("first line")
    assert (tmp_path / "tasks" / "424242").stat().st_mode & 0o777 == 0o700
