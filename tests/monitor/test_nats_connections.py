"""Agent disconnects seen through a real nats-server's /connz: an agent's connection is
listed while it is up and gone the moment its process closes it; a server that cannot be
asked gives no evidence (None), never "everyone disconnected"."""

from __future__ import annotations

import asyncio
import secrets

import nats

from bosh_py.mbus.server import NatsServer
from bosh_py.monitor.nats_connections import (
    connected_users,
    disconnected,
    fetch_connected_users,
)
from tests.harness import free_port, wait_until


def test_disconnected_names_agents_without_a_connection_of_their_own_user():
    connz = {"connections": [{"authorized_user": "agent-a1"}, {"authorized_user": "director"}, {}]}
    assert disconnected({"a1", "a2"}, connected_users(connz)) == frozenset({"a2"})


def test_an_agent_connection_closing_shows_at_once(tmp_path):
    server = NatsServer(tmp_path / "nats", "127.0.0.1", free_port(), director_password=secrets.token_urlsafe(16))
    password = secrets.token_urlsafe(16)
    server.add_agent("a1", password)
    server.start()
    try:
        url = server.monitor_url()
        assert url is not None and url.startswith("http://127.0.0.1:")

        async def scenario() -> None:
            agent = await nats.connect(server.agent_url("a1", password), allow_reconnect=False)
            assert disconnected({"a1"}, await fetch_connected_users(url)) == frozenset()
            await agent.close()
            for _ in range(50):  # the server drops the connection within milliseconds
                users = await fetch_connected_users(url)
                if disconnected({"a1"}, users):
                    return
                await asyncio.sleep(0.02)
            raise AssertionError("the closed connection is still listed")

        asyncio.run(scenario())
    finally:
        server.stop()
    wait_until(lambda: server.monitor_url() is None, 5, message="no monitor once stopped")
    assert asyncio.run(fetch_connected_users(url)) is None, "nobody to ask: no evidence"
    assert asyncio.run(fetch_connected_users(None)) is None
