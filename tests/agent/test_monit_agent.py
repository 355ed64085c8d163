"""A job with a classic monit file and a bash ctl script, through the real agent over a
real nats-server, as the director drives it: apply, start, get_state (processes like YAML
ones), a crash restarted by the start program, drain, agent restart adoption, stop (the
stop program runs). Tests run in file order on one agent, like one VM's life."""

from __future__ import annotations

import os
import signal

import pytest

from bosh_py.agent.procfs import pid_alive
from bosh_py.mbus.errors import AgentError
from tests.agent.helpers import make_tgz, poll, with_client

CTL = """#!/bin/bash
RUN_DIR={root}/var/vcap/sys/run/kv
PIDFILE=$RUN_DIR/kv.pid
case $1 in
  start)
    echo start >> {root}/events
    mkdir -p $RUN_DIR
    /bin/sleep 1000 &
    echo $! >> {root}/all.pids
    echo $! > $PIDFILE
    ;;
  stop)
    echo stop >> {root}/events
    kill $(cat $PIDFILE) && rm -f $PIDFILE
    ;;
esac
"""

MONIT = """check process kv
  with pidfile /var/vcap/sys/run/kv/kv.pid
  start program "{root}/var/vcap/jobs/kv/bin/kv_ctl start" with timeout 10 seconds
  stop program "{root}/var/vcap/jobs/kv/bin/kv_ctl stop"
  group vcap
  if failed port 1 then restart
"""


@pytest.fixture(scope="module")
def spec(agent, blobstore):
    root = agent.root
    jobs_id, jobs_sha = blobstore.put_bytes(make_tgz({
        "kv/monit": MONIT.format(root=root),
        "kv/bin/kv_ctl": CTL.format(root=root),
    }))
    yield {
        "deployment": "dep", "name": "kv", "id": "inst-kv", "index": 0, "az": "z1", "bootstrap": True,
        "networks": {"default": {"ip": "127.0.0.1", "netmask": "255.0.0.0", "gateway": "127.0.0.1"}},
        "job": {"name": "kv", "templates": [{"name": "kv", "version": "k1"}]},
        "packages": {}, "rendered_templates_archive": {"blobstore_id": jobs_id, "sha1": jobs_sha},
        "configuration_hash": "c1", "persistent_disk": 0,
    }
    pids = root / "all.pids"
    for line in pids.read_text().split() if pids.exists() else []:
        try:
            os.kill(int(line), signal.SIGKILL)
        except OSError:
            pass


def call(agent, fn):
    return with_client(agent.nats, agent.agent_id, fn, 30)


def _pid(agent) -> int:
    return int((agent.root / "var/vcap/sys/run/kv/kv.pid").read_text())


def _events(agent) -> list[str]:
    return (agent.root / "events").read_text().split()


def test_apply_start_and_get_state(agent, spec):
    async def go(client, nc):
        assert await client.apply(spec) == "applied"
        assert await client.start() == "started"
        return await poll(client.get_state, lambda s: s["job_state"] == "running")
    state = call(agent, go)
    assert state["job_state"] == "running", state
    [proc] = state["processes"]
    assert (proc["job"], proc["name"], proc["state"]) == ("kv", "kv", "running")
    assert proc["mem"]["kb"] > 0  # measured from the pidfile's process
    assert _events(agent) == ["start"]


def test_a_dead_process_is_started_again(agent, spec):
    first = _pid(agent)
    os.kill(first, signal.SIGKILL)

    async def go(client, nc):
        return await poll(client.get_state, lambda s: s["job_state"] == "running" and _pid(agent) != first,
                          timeout=20)
    assert call(agent, go)["job_state"] == "running"
    assert _events(agent) == ["start", "start"]
    assert "kv/kv: pid" in agent.log_text() and "is gone" in agent.log_text()


def test_drain_and_agent_restart_adopt_by_pidfile(agent, spec):
    pid = _pid(agent)

    async def drain(client, nc):
        return await client.drain("update", spec)
    assert call(agent, drain) == 0
    agent.stop()
    assert pid_alive(pid)
    agent.start()

    async def go(client, nc):
        await client.wait_until_ready(20)
        return await poll(client.get_state, lambda s: s["job_state"] == "running")
    state = call(agent, go)
    assert state["processes"][0]["state"] == "running"
    assert _pid(agent) == pid and _events(agent) == ["start", "start"]  # adopted
    assert f"adopted kv/kv (pid {pid}, from /var/vcap/sys/run/kv/kv.pid)" in agent.log_text()
    assert "kv/kv: monit line 6: if ... then ... is accepted and not evaluated" in agent.log_text()


def test_stop_runs_the_stop_program(agent, spec):
    pid = _pid(agent)

    async def go(client, nc):
        assert await client.stop() == "stopped"
        return await client.get_state()
    state = call(agent, go)
    assert state["job_state"] == "stopped" and state["processes"] == []
    assert not pid_alive(pid)
    assert _events(agent) == ["start", "start", "stop"]


def test_a_malformed_monit_file_fails_start_naming_job_file_and_line(agent, blobstore, spec):
    bad = dict(spec)
    jobs_id, jobs_sha = blobstore.put_bytes(make_tgz({
        "kv/monit": MONIT.format(root=agent.root).replace("group vcap", "grup vcap"),
        "kv/bin/kv_ctl": CTL.format(root=agent.root),
    }))
    bad["rendered_templates_archive"] = {"blobstore_id": jobs_id, "sha1": jobs_sha}
    bad["configuration_hash"] = "c2"

    async def go(client, nc):
        assert await client.apply(bad) == "applied"
        with pytest.raises(AgentError) as e:
            await client.start()
        return str(e.value)
    message = call(agent, go)
    assert f"Job kv: {agent.root}/var/vcap/jobs/kv/monit line 5: unexpected 'grup'" in message
