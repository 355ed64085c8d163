"""Following a task and rendering ahead, against a real director on the dummy CPI.

A held `GET /tasks/<n>/output?wait=S` answers when the task has more log or has ended, with
its state, so the CLI hears a task's end at once instead of polling; the log it hands out
adds up to the whole event log. The director keeps one template-rendering process started
ahead: a deploy uses it and leaves a new one, and stopping the director ends it."""

from __future__ import annotations

import json

import httpx
import pytest
import yaml

from bosh_py.agent.procfs import all_stats, pid_alive, process_cmdline
from bosh_py.director.tasks import UNFINISHED
from tests.director.dummy_support import dummy_director, manifest
from tests.harness import wait_until


def render_processes_of(pid: int) -> set[int]:
    """The director's children running bosh_py.release.render_worker."""
    return {stat.pid for stat in all_stats()
            if stat.ppid == pid and "bosh_py.release.render_worker" in process_cmdline(stat.pid)}


@pytest.fixture(scope="module")
def dummy(tmp_path_factory):
    seen: set[int] = set()
    with dummy_director(tmp_path_factory.mktemp("task-follow")) as director:
        director.render_processes_seen = seen  # type: ignore[attr-defined]
        yield director
    assert not [pid for pid in seen if pid_alive(pid)], "a render process outlived its director"


@pytest.fixture
def api(dummy):
    config = json.loads((dummy.root / "cli.json").read_text())
    with httpx.Client(base_url=config["url"], auth=(config["user"], config["password"]), timeout=30) as client:
        yield client


def test_held_output_answers_with_more_log_or_the_end(dummy, api):
    slow = manifest(greeting="held")
    slow["update"]["canary_watch_time"] = "1500-1500"  # a second and a half with nothing to say
    task = api.post("/deployments", json={"manifest": yaml.safe_dump(slow)}).json()
    offset, log, answers = 0, "", []
    while True:
        response = api.get(f"/tasks/{task['id']}/output", params={"type": "event", "offset": offset, "wait": 10})
        assert response.status_code == 200, response.text
        state = response.headers["X-Task-State"]
        answers.append((len(response.text), state))
        log += response.text
        offset = int(response.headers["X-Next-Offset"])
        if state not in UNFINISHED:
            break
        assert len(answers) < 500, answers
    # held: no answer came back empty while the task still ran (a plain read would, many times)
    assert all(size or state not in UNFINISHED for size, state in answers), answers
    assert state == "done"
    assert log == (dummy.data_dir / "tasks" / str(task["id"]) / "event").read_text()  # nothing lost at the end

    unheld = api.get(f"/tasks/{task['id']}/output", params={"type": "debug"})
    assert unheld.headers["X-Task-State"] == "done" and "Timing stage render: " in unheld.text
    too_long = api.get(f"/tasks/{task['id']}/output", params={"wait": 11})
    assert too_long.status_code == 400 and "wait: must be between 0 and 10" in too_long.text


def test_a_deploy_renders_in_the_process_started_ahead_and_leaves_a_new_one(dummy):
    director = int((dummy.data_dir / "director.pid").read_text())
    ahead = wait_until(lambda: render_processes_of(director), message="a render process started ahead")
    dummy.render_processes_seen.update(ahead)
    assert len(ahead) == 1
    dummy.cli("deploy", "-n", str(dummy.manifest(greeting="rendered ahead")))
    after = wait_until(lambda: render_processes_of(director), message="the next one")
    dummy.render_processes_seen.update(after)
    assert len(after) == 1 and after.isdisjoint(ahead)  # the deploy used the one ahead
    assert not any(pid_alive(pid) for pid in ahead)
