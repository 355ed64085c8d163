"""AgentClient against a real nats-server, with a small scripted agent on the other end
(a real NATS peer speaking the agent protocol), to pin the director side's behaviour."""

from __future__ import annotations

import asyncio
import json
import time

import nats
import pytest

from bosh_py.errors import BoshPyError
from bosh_py.mbus.agent_client import AgentClient, ReplyRouter
from bosh_py.mbus.errors import AgentError, AgentTimeoutError
from bosh_py.mbus.urls import connect_options


async def scripted_agent(server, agent_id: str, password: str, handler, delay: float = 0.0):
    """Subscribe as the agent and answer each request with ``handler(request)``."""
    server.add_agent(agent_id, password)
    await asyncio.sleep(delay)
    nc = await nats.connect(**connect_options(server.agent_url(agent_id, password)))
    seen: list[dict] = []

    async def on_request(msg):
        request = json.loads(msg.data)
        seen.append(request)
        reply = handler(request)
        if reply is not None:
            await nc.publish(request["reply_to"], json.dumps(reply).encode())
    await nc.subscribe(f"agent.{agent_id}", cb=on_request)
    await nc.flush()
    return nc, seen


def run(nats_server, body):
    async def main():
        director = await nats.connect(**nats_server.director_connect_options())
        try:
            return await body(director)
        finally:
            await director.close()
    return asyncio.run(main())


def test_request_format_value_and_exception(nats_server):
    def handler(req):
        if req["method"] == "ping":
            return {"value": "pong"}
        return {"exception": {"message": "Action Failed get_state: it broke"}}

    async def body(director):
        agent, seen = await scripted_agent(nats_server, "c1", "pw", handler)
        client = AgentClient(director, "dir-uuid", "c1", timeout=5)
        assert await client.call("ping") == "pong"
        req = seen[0]
        assert req["protocol"] == 3 and req["method"] == "ping" and req["arguments"] == []
        prefix, uuid_, agent_id, request_id = req["reply_to"].split(".")
        assert (prefix, uuid_, agent_id) == ("director", "dir-uuid", "c1") and len(request_id) == 32
        with pytest.raises(AgentError, match="^Action Failed get_state: it broke$") as e:
            await client.call("get_state", "full")
        assert isinstance(e.value, BoshPyError)
        assert seen[1]["arguments"] == ["full"]
        await agent.close()
    run(nats_server, body)


def test_timeout_message(nats_server):
    async def body(director):
        client = AgentClient(director, "dir-uuid", "nobody", timeout=0.3)
        t = time.monotonic()
        with pytest.raises(AgentTimeoutError) as e:
            await client.call("apply", {})
        assert str(e.value) == "Timed out sending 'apply' to agent nobody after 0.3s"
        assert 0.3 <= time.monotonic() - t < 1
        with pytest.raises(AgentTimeoutError, match="Timed out pinging agent nobody after 0.5s"):
            await client.wait_until_ready(timeout=0.5, ping_timeout=0.2)
    run(nats_server, body)


def test_run_follows_a_long_task(nats_server):
    polls = {"n": 0}

    def handler(req):
        if req["method"] == "compile_package":
            return {"value": {"agent_task_id": "t-1", "state": "running"}}
        if req["method"] == "get_task":
            assert req["arguments"] == ["t-1"]
            polls["n"] += 1
            if polls["n"] < 3:
                return {"value": {"agent_task_id": "t-1", "state": "running"}}
            return {"value": {"result": {"blobstore_id": "b", "sha1": "sha256:x"}}}
        if req["method"] == "stop":
            return {"value": {"agent_task_id": "t-2", "state": "running"}} if polls["n"] < 4 else None

    async def body(director):
        agent, _ = await scripted_agent(nats_server, "c2", "pw", handler)
        router = ReplyRouter(director, "dir-uuid")
        client = router.client("c2", timeout=5)
        result = await client.run("compile_package", "id", "sha", "pkg", "1", {}, poll_interval=0.05)
        assert result == {"result": {"blobstore_id": "b", "sha1": "sha256:x"}}
        assert polls["n"] == 3
        await agent.close()
    run(nats_server, body)


def test_wait_until_ready_for_an_agent_that_connects_late(nats_server):
    async def body(director):
        router = ReplyRouter(director, "dir-uuid")
        starting = asyncio.create_task(
            scripted_agent(nats_server, "c3", "pw", lambda r: {"value": "pong"}, delay=0.7))
        t = time.monotonic()
        await router.client("c3").wait_until_ready(timeout=10, ping_timeout=0.2)
        assert 0.6 < time.monotonic() - t < 5
        agent, _ = await starting
        await agent.close()
    run(nats_server, body)


def test_many_agents_share_one_reply_subscription(nats_server):
    async def body(director):
        agents = [await scripted_agent(nats_server, f"m{i}", "pw",
                                       lambda r, i=i: {"value": f"pong-{i}"}) for i in range(5)]
        router = ReplyRouter(director, "dir-uuid")
        clients = [router.client(f"m{i}", timeout=5) for i in range(5)]
        replies = await asyncio.gather(*(c.call("ping") for c in clients for _ in range(20)))
        assert replies == [f"pong-{i}" for i in range(5) for _ in range(20)]
        for nc, _ in agents:
            await nc.close()
    run(nats_server, body)
