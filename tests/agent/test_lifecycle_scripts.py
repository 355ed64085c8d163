"""BOSH's job lifecycle on a real agent (https://bosh.io/docs/job-lifecycle/): on the way
up pre-start, start, post-start; on the way down, in one ``stop`` with ``lifecycle``:
pre-stop (with BOSH_*_NEXT_STATE), drain (unless skip_drain), stop, post-stop. Every
script appends one line to a shared log, so the order is read back from that file."""

from __future__ import annotations

import json
import os

import pytest

from bosh_py.mbus.agent_client import AgentTaskFailed
from tests.agent.helpers import make_tgz, with_client

SCRIPTS = ("pre-start", "post-start", "pre-stop", "post-stop")


def _script(log: str, job: str, name: str) -> str:
    extra = ' "$BOSH_DEPLOYMENT_NEXT_STATE" "$BOSH_INSTANCE_NEXT_STATE" "$BOSH_VM_NEXT_STATE"' \
        if name == "pre-stop" else ""
    return f"#!/bin/bash\necho {job} {name}{extra} >> {log}\n"


def _drain(log: str, job: str, control: str) -> str:
    """A drain that logs, then fails / hangs / answers as the control file says."""
    return (f"#!/bin/bash\necho {job} drain \"$@\" >> {log}\n"
            f"mode=$(cat {control} 2>/dev/null)\n"
            f"if [ \"$mode\" = fail-{job} ]; then echo broken; exit 3; fi\n"
            f"if [ \"$mode\" = hang-{job} ]; then sleep 30; fi\n"
            "echo 0\n")


@pytest.fixture(scope="module")
def lifecycle(agent, blobstore):
    """An apply spec for jobs "alpha" (a process + every script) and "beta" (scripts only)."""
    root = agent.root
    log = root / "lifecycle.log"
    control = root / "drain.mode"
    files: dict[str, str | bytes] = {
        "alpha/monit": "processes:\n- name: alpha\n  executable: /bin/sleep\n  args: ['3600']\n",
        "beta/monit": "processes: []\n",
    }
    for job in ("alpha", "beta"):
        for name in SCRIPTS:
            files[f"{job}/bin/{name}"] = _script(str(log), job, name)
        files[f"{job}/bin/drain"] = _drain(str(log), job, str(control))
    jobs_id, jobs_sha = blobstore.put_bytes(make_tgz(files))
    spec = {
        "deployment": "dep", "name": "lc", "id": "inst-lc", "index": 0, "az": "z1", "bootstrap": True,
        "networks": {}, "packages": {}, "configuration_hash": "c1", "persistent_disk": 0,
        "job": {"name": "lc", "templates": [{"name": "alpha", "version": "a1"}, {"name": "beta", "version": "b1"}]},
        "rendered_templates_archive": {"blobstore_id": jobs_id, "sha1": jobs_sha},
    }
    return {"spec": spec, "log": log, "control": control}


def _lines(lifecycle: dict) -> list[str]:
    path = lifecycle["log"]
    lines = path.read_text().splitlines() if path.exists() else []
    path.unlink(missing_ok=True)
    return lines


def _up(agent, lifecycle) -> dict:
    async def go(client, nc):
        await client.apply(lifecycle["spec"])
        await client.start()
        await client.run_script("post-start")
        return await client.get_state()
    return with_client(agent.nats, agent.agent_id, go)


def _phase(lines: list[str], name: str) -> list[str]:
    """The jobs that ran script ``name`` (jobs run in parallel: their order within a phase is free)."""
    return sorted(line.split()[0] for line in lines if line.split()[1] == name)


def _order(lines: list[str]) -> list[str]:
    """The phases in the order they first happened (each phase must be contiguous)."""
    phases: list[str] = []
    for line in lines:
        name = line.split()[1]
        if not phases or phases[-1] != name:
            assert name not in phases, f"phase {name} interleaved with another: {lines}"
            phases.append(name)
    return phases


def test_way_up_runs_pre_start_then_post_start(agent, lifecycle):
    _lines(lifecycle)
    state = _up(agent, lifecycle)
    assert state["job_state"] in ("starting", "running")
    lines = _lines(lifecycle)
    assert _order(lines) == ["pre-start", "post-start"]
    assert _phase(lines, "pre-start") == ["alpha", "beta"]


def test_way_down_runs_pre_stop_drain_stop_post_stop_in_order(agent, lifecycle):
    _up(agent, lifecycle)
    _lines(lifecycle)

    async def go(client, nc):
        result = await client.stop(lifecycle=True, next_state={"deployment": "delete", "instance": "delete"})
        return result, await client.get_state()
    result, state = with_client(agent.nats, agent.agent_id, go)
    lines = _lines(lifecycle)
    assert _order(lines) == ["pre-stop", "drain", "post-stop"]
    pre_stop = [line for line in lines if line.split()[1] == "pre-stop"]
    assert sorted(pre_stop) == ["alpha pre-stop delete delete keep", "beta pre-stop delete delete keep"]
    assert sorted(line for line in lines if " drain " in line) == [
        "alpha drain job_shutdown hash_unchanged", "beta drain job_shutdown hash_unchanged"]
    assert result == {"state": "stopped", "drained_seconds": 0, "drain_skipped": False}
    assert state["job_state"] == "stopped" and state["processes"] == []


def test_skip_drain_skips_only_the_drain(agent, lifecycle):
    _up(agent, lifecycle)
    _lines(lifecycle)

    async def go(client, nc):
        return await client.stop(lifecycle=True, skip_drain=True)
    assert with_client(agent.nats, agent.agent_id, go)["drain_skipped"] is True
    lines = _lines(lifecycle)
    assert _order(lines) == ["pre-stop", "post-stop"]
    assert all(line.endswith("keep keep keep") for line in lines if " pre-stop" in line)


def test_failing_drain_names_the_job_and_leaves_processes_running(agent, lifecycle):
    _up(agent, lifecycle)
    _lines(lifecycle)
    lifecycle["control"].write_text("fail-beta")
    try:
        async def go(client, nc):
            with pytest.raises(AgentTaskFailed) as failed:
                await client.stop(lifecycle=True)
            return str(failed.value), await client.get_state()
        message, state = with_client(agent.nats, agent.agent_id, go)
    finally:
        lifecycle["control"].unlink()
    assert "Drain script of job beta failed (exit code 3)" in message and "broken" in message
    assert state["job_state"] in ("starting", "running")
    assert "post-stop" not in _order(_lines(lifecycle))


def test_hanging_drain_is_killed_at_its_timeout_and_names_the_job(agent, lifecycle):
    _up(agent, lifecycle)
    lifecycle["control"].write_text("hang-alpha")

    async def go(client, nc):
        await client.update_settings({"drain_script_timeout": 1})
        try:
            with pytest.raises(AgentTaskFailed) as failed:
                await client.stop(lifecycle=True)
        finally:
            await client.update_settings({"drain_script_timeout": None})
        return str(failed.value)
    try:
        message = with_client(agent.nats, agent.agent_id, go)
    finally:
        lifecycle["control"].unlink()
    assert "Drain script of job alpha did not finish within 1s" in message


def test_bad_next_state_is_refused_before_any_script_runs(agent, lifecycle):
    _up(agent, lifecycle)
    _lines(lifecycle)

    async def go(client, nc):
        with pytest.raises(AgentTaskFailed) as failed:
            await client.stop(lifecycle=True, next_state={"deployment": "gone"})
        return str(failed.value)
    assert "options.next_state.deployment is 'gone'" in with_client(agent.nats, agent.agent_id, go)
    assert _lines(lifecycle) == []


def test_plain_stop_still_only_stops_processes(agent, lifecycle):
    _up(agent, lifecycle)
    _lines(lifecycle)

    async def go(client, nc):
        return await client.stop()
    assert with_client(agent.nats, agent.agent_id, go) == "stopped"
    assert _lines(lifecycle) == []
    assert json.loads((agent.root / "var/vcap/bosh/agent_state.json").read_text())["desired_job_state"] == "stopped"
    assert os.path.isdir(agent.root / "var/vcap/jobs/alpha")


def test_agent_errors_are_typed(agent):
    """Silence is AgentUnresponsive (still an AgentTimeoutError), a failed action AgentTaskFailed."""
    from bosh_py.mbus.agent_client import AgentUnresponsive
    from bosh_py.mbus.errors import AgentError, AgentTimeoutError

    async def go(client, nc):
        silent = client.router.client("no-such-agent", timeout=0.3)
        with pytest.raises(AgentUnresponsive) as unresponsive:
            await silent.ping(timeout=0.3)
        with pytest.raises(AgentTaskFailed) as failed:
            await client.run_script("bad/name")
        return unresponsive.value, failed.value
    unresponsive, failed = with_client(agent.nats, agent.agent_id, go)
    assert isinstance(unresponsive, AgentTimeoutError) and unresponsive.method == "ping"
    assert isinstance(failed, AgentError) and failed.method == "run_script" and failed.agent_id == agent.agent_id
    assert "Invalid script name 'bad/name'" in str(failed)
