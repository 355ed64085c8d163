"""NatsServer: a real nats-server with per-agent users and permissions."""

from __future__ import annotations

import asyncio
import os
import stat

import nats
import pytest

from bosh_py.mbus.errors import MbusError
from bosh_py.mbus.server import NatsServer
from bosh_py.mbus.urls import connect_options


async def connect_agent(server: NatsServer, agent_id: str, password: str):
    errors: list[Exception] = []

    async def on_error(e):
        errors.append(e)
    nc = await nats.connect(**connect_options(server.agent_url(agent_id, password)),
                            error_cb=on_error, allow_reconnect=False, connect_timeout=2)
    return nc, errors


async def wait_for(errors: list, timeout: float = 2.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if errors:
            return
        await asyncio.sleep(0.02)


async def subscribed(client) -> None:
    """nats-py's flush() can overtake a SUB still queued for its flusher task (seen under
    load): the second round trip is what proves the subscription reached the server."""
    await client.flush()
    await client.flush()


def test_agent_users_and_permissions(nats_server):
    nats_server.add_agent("a1", "pw-one/with@odd:chars%")
    nats_server.add_agent("a2", "pw-two")

    async def go():
        director = await nats.connect(**nats_server.director_connect_options())
        got: asyncio.Queue = asyncio.Queue()

        async def collect(msg):
            await got.put((msg.subject, msg.data))
        await director.subscribe("hm.agent.>", cb=collect)
        await director.subscribe("director.>", cb=collect)
        await director.flush()

        a1, a1_errors = await connect_agent(nats_server, "a1", "pw-one/with@odd:chars%")
        # its own subjects work
        await a1.publish("hm.agent.heartbeat.a1", b"{}")
        await a1.publish("director.d-uuid.a1.req-1", b"reply")
        assert await asyncio.wait_for(got.get(), 2) == ("hm.agent.heartbeat.a1", b"{}")
        assert await asyncio.wait_for(got.get(), 2) == ("director.d-uuid.a1.req-1", b"reply")

        # another agent's heartbeat subject: refused by the server, never delivered
        await a1.publish("hm.agent.heartbeat.a2", b"{}")
        await a1.flush()
        await wait_for(a1_errors)
        assert "permissions violation" in str(a1_errors[0]).lower()
        assert 'publish to "hm.agent.heartbeat.a2"' in str(a1_errors[0])
        # nor may it answer in another agent's name, or publish to agents
        for subject in ("director.d-uuid.a2.req-1", "agent.a2"):
            a1_errors.clear()
            await a1.publish(subject, b"x")
            await a1.flush()
            await wait_for(a1_errors)
            assert "permissions violation" in str(a1_errors[0]).lower(), subject

        # subscribing to another agent's inbox is refused; its own inbox works
        a1_errors.clear()
        await a1.subscribe("agent.a2")
        await a1.flush()
        await wait_for(a1_errors)
        assert 'permissions violation for subscription to "agent.a2"' in str(a1_errors[0]).lower()
        inbox = await a1.subscribe("agent.a1")
        await subscribed(a1)
        await director.publish("agent.a1", b"hello")
        try:
            msg = await inbox.next_msg(timeout=5)
        except Exception:
            raise AssertionError(f"no message; agent errors: {a1_errors}, closed={a1.is_closed}, got={got.qsize()}")
        assert msg.data == b"hello"
        await asyncio.sleep(0.1)
        assert got.empty()

        # the health monitor user reads heartbeats and nothing else
        hm = await nats.connect(servers=[nats_server.url()], user="hm",
                                password=nats_server.hm_password, connect_timeout=2)
        beats = await hm.subscribe("hm.agent.>")
        await subscribed(hm)
        await a1.publish("hm.agent.alert.a1", b"alert")
        assert (await beats.next_msg(timeout=5)).data == b"alert"
        await hm.close()
        await a1.close()
        await director.close()
    asyncio.run(go())


def test_wrong_password_and_removed_agent_cannot_log_in(nats_server):
    nats_server.add_agent("a3", "right")

    async def go():
        with pytest.raises(Exception):
            await connect_agent(nats_server, "a3", "wrong")
        nc, _ = await connect_agent(nats_server, "a3", "right")
        nats_server.remove_agent("a3")  # revoked: the server drops it and refuses new logins
        with pytest.raises(Exception):
            await connect_agent(nats_server, "a3", "right")
        await nc.close()
    asyncio.run(go())


def test_files_are_private_and_users_survive_a_restart(nats_server, tmp_path):
    nats_server.add_agent("a4", "four")
    for name in ("nats.conf", "users.json"):
        mode = stat.S_IMODE(os.stat(nats_server.workdir / name).st_mode)
        assert mode == 0o600, name
    assert stat.S_IMODE(os.stat(nats_server.workdir).st_mode) == 0o700
    conf = (nats_server.workdir / "nats.conf").read_text()
    assert "four" not in conf and nats_server.director_password not in conf  # bcrypt hashes
    assert "$2a$" in conf

    # A second NatsServer on the same workdir (a restarted director) adopts the running
    # server and keeps the users.
    again = NatsServer(nats_server.workdir, nats_server.host, nats_server.port,
                       director_password=nats_server.director_password,
                       hm_user="hm", hm_password=nats_server.hm_password)
    assert again.pid() == nats_server.pid()
    assert "a4" in again.agents()
    again.start()

    async def go():
        nc, _ = await connect_agent(again, "a4", "four")
        await nc.close()
    asyncio.run(go())


def test_invalid_agent_ids_are_refused(nats_server):
    for bad in ("a.b", "a*", "a>", "", "a b"):
        with pytest.raises(MbusError, match="Invalid agent id"):
            nats_server.add_agent(bad, "pw")


def test_start_reports_a_port_in_use(nats_server, tmp_path):
    other = NatsServer(tmp_path / "other", nats_server.host, nats_server.port, director_password="x")
    with pytest.raises(MbusError, match="address already in use"):
        other.start()
    assert other.pid() is None
