"""What the agent adds to a rollout's time: a short action answers in its reply (no
get_task round trips), a slow one still answers with a task to poll; a job counts as
running after a quarter second, so the director's watch time (not a floor hidden in the
agent) says how long it must stay up; a crash inside the watch still shows."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from bosh_py.agent.paths import Paths
from bosh_py.agent.supervisor import Supervisor
from bosh_py.agent.tasks import TaskManager
from bosh_py.mbus.errors import AgentError
from tests.agent.helpers import with_client
from tests.agent.test_supervisor import install_job


def test_short_action_is_answered_with_its_result(agent):
    async def go(client, nc):
        stopped = await client.call("stop")  # no jobs: done in milliseconds
        with pytest.raises(AgentError, match="options must be a mapping"):
            await client.call("stop", "not-a-mapping")
        return stopped
    assert with_client(agent.nats, agent.agent_id, go) == "stopped"


def test_slow_action_is_answered_with_a_task_to_poll():
    async def go():
        tasks = TaskManager(logging.getLogger("test"))

        async def slow() -> str:
            await asyncio.sleep(0.5)
            return "done"
        started = time.monotonic()
        reply = await tasks.run("slow", slow, wait=0.1)
        waited = time.monotonic() - started
        task_id = reply["value"]["agent_task_id"]
        assert reply["value"]["state"] == "running" and 0.1 <= waited < 0.4
        await asyncio.sleep(0.6)
        return tasks.get(task_id)
    assert asyncio.run(go()) == {"value": "done"}


def test_job_counts_as_running_after_a_quarter_second(tmp_path):
    paths = Paths(tmp_path)
    paths.ensure_layout()
    install_job(paths, "web", "processes:\n- name: web\n  executable: /bin/sleep\n  args: ['30']\n")
    install_job(paths, "flaky", "processes:\n- name: flaky\n  executable: /bin/sh\n  args: ['-c', 'sleep 0.35; exit 3']\n")
    supervisor = Supervisor(paths, lambda _exit: None, logging.getLogger("test"))  # the agent's defaults

    async def go() -> tuple[list[tuple[float, str]], str]:
        started = time.monotonic()
        await supervisor.start()
        seen = []
        try:
            while time.monotonic() - started < 0.6:
                states = {s.name: s.state for s in supervisor.statuses()}
                seen.append((time.monotonic() - started, states["web"]))
                await asyncio.sleep(0.02)
            return seen, supervisor.job_state()
        finally:
            await supervisor.stop(timeout=2)
    seen, after_crash = asyncio.run(go())
    running_at = next(t for t, state in seen if state == "running")
    assert running_at < 0.4, seen  # the agent's old 1 s floor would make every watch last a second
    assert after_crash == "failing"  # a job that died at 0.35 s is not taken for healthy at 0.6 s
