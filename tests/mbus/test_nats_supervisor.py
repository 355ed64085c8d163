"""NatsSupervisor: the director's nats-server comes back after a kill -9, with every agent's login."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal

import nats

from bosh_py.mbus.server import NatsServer
from bosh_py.mbus.supervisor import Backoff, NatsSupervisor
from bosh_py.mbus.urls import connect_options
from tests.harness import free_port


def test_backoff_doubles_up_to_its_cap():
    backoff = Backoff(first_delay=0.5, max_delay=3)
    delays = [None]
    for _ in range(5):
        delays.append(backoff.next_delay(delays[-1]))
    assert delays[1:] == [0.5, 1, 2, 3, 3]


def test_a_killed_nats_server_is_restarted_and_clients_reconnect(tmp_path):
    server = NatsServer(tmp_path / "nats", "127.0.0.1", free_port(), director_password=secrets.token_urlsafe(16))
    server.start()
    server.add_agent("a1", "agent-password")
    events: list[tuple[str, str]] = []

    async def scenario() -> None:
        supervisor = NatsSupervisor(server, lambda action, message: events.append((action, message)),
                                    poll_interval=0.1, backoff=Backoff(first_delay=0.1))
        supervising = asyncio.create_task(supervisor.run_forever())
        reconnected = asyncio.Event()

        async def on_reconnected() -> None:
            reconnected.set()

        director = await nats.connect(**server.director_connect_options(), reconnect_time_wait=0.2,
                                      max_reconnect_attempts=-1, reconnected_cb=on_reconnected)
        agent = None
        try:
            old_pid = server.pid()
            assert old_pid is not None
            os.kill(old_pid, signal.SIGKILL)  # what an OOM killer or a stray `kill -9` does
            await asyncio.wait_for(reconnected.wait(), 15)
            new_pid = server.pid()
            assert new_pid is not None and new_pid != old_pid
            assert supervisor.restarts == 1
            assert [action for action, _ in events] == ["restarted"]
            # the agent's user survived the restart: it logs in and its heartbeat reaches the director
            got: asyncio.Queue = asyncio.Queue()

            async def collect(msg) -> None:  # type: ignore[no-untyped-def]
                await got.put(msg.subject)

            await director.subscribe("hm.agent.heartbeat.*", cb=collect)
            await director.flush()
            agent = await nats.connect(**connect_options(server.agent_url("a1", "agent-password")),
                                       allow_reconnect=False, connect_timeout=2)
            await agent.publish("hm.agent.heartbeat.a1", b"{}")
            assert await asyncio.wait_for(got.get(), 5) == "hm.agent.heartbeat.a1"
            # the director's own stop is final: the supervisor does not bring the server back
            await asyncio.to_thread(server.stop)
            await asyncio.sleep(1)
            assert server.pid() is None and supervisor.restarts == 1
        finally:
            if agent is not None:
                await agent.close()
            await director.close()
            supervising.cancel()
            await asyncio.gather(supervising, return_exceptions=True)

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
    assert server.pid() is None, "a stopped supervisor starts nothing after the server's stop"
