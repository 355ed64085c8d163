"""A worker changes agents' NATS users and blob grants through the API process (agent_access.py):
the real nats-server and the real grants table on one side, the worker's client on the other,
over the director's own bus."""

from __future__ import annotations

import asyncio

import nats
import pytest

from bosh_py.director.agent_access import (LocalAgentAccess, RemoteAgentAccess, access_subject,
                                           serve_agent_access)
from bosh_py.director.blob_grants import BlobGrants
from bosh_py.errors import BoshPyError
from bosh_py.mbus.server import NatsServer
from tests.harness import free_port

UUID = "director-uuid"
PACKAGE, RESULT, OTHER = "a" * 32, "b" * 32, "c" * 32


@pytest.fixture
def server(tmp_path):
    nats_server = NatsServer(tmp_path / "nats", host="127.0.0.1", port=free_port(), director_password="dir-pw")
    nats_server.start()
    yield nats_server
    nats_server.stop()


async def connect_agent(server: NatsServer, agent_id: str, password: str) -> None:
    nc = await nats.connect(server.agent_url(agent_id, password), allow_reconnect=False, connect_timeout=2,
                            max_reconnect_attempts=0)
    await nc.close()


def test_a_worker_adds_grants_and_revokes_agents_through_the_api_process(server):
    grants = BlobGrants(max_upload_bytes=1 << 20)

    async def go() -> None:
        api = await nats.connect(**server.director_connect_options())
        worker = await nats.connect(**server.director_connect_options())
        subscription = await serve_agent_access(api, UUID, LocalAgentAccess(server, grants))
        remote = RemoteAgentAccess(worker, UUID, server.port)
        try:
            await asyncio.gather(*(remote.add_agent(f"agent-{n}", f"pw-{n}") for n in range(3)))
            assert server.agents() == ["agent-0", "agent-1", "agent-2"]
            await connect_agent(server, "agent-1", "pw-1")  # the hash the worker sent works
            assert remote.agent_url("agent-1", "pw-1", "10.0.0.1") == server.agent_url("agent-1", "pw-1", "10.0.0.1")

            await remote.grant("agent-1", "compile_package", [PACKAGE, "sha1", "pkg", "1", {}, RESULT])
            assert grants.may_read("agent-1", PACKAGE) and not grants.may_read("agent-1", OTHER)
            assert not grants.may_read("agent-2", PACKAGE)  # only the agent the message went to
            await remote.release_upload("agent-1", RESULT)
            assert grants.claim_upload("agent-1", RESULT) is None  # the message is over

            await remote.revoke("agent-1")
            assert server.agents() == ["agent-0", "agent-2"] and not grants.may_read("agent-1", PACKAGE)
            with pytest.raises(Exception):
                await connect_agent(server, "agent-1", "pw-1")

            with pytest.raises(BoshPyError, match="refused 'add_agent' for agent agent-9: Not a bcrypt hash"):
                await remote._ask({"op": "add_agent", "agent_id": "agent-9", "hash": "plain-password"})
            with pytest.raises(BoshPyError, match="Invalid agent id"):
                await remote._ask({"op": "revoke", "agent_id": "a.b"})
            assert "agent-9" not in server.agents()
        finally:
            await subscription.unsubscribe()
            await api.close()
            await worker.close()

    asyncio.run(go())


def test_an_agent_cannot_ask_for_access_itself(server):
    """Only the director's user may publish on the access subject: an agent's request never
    arrives, so it cannot add a user or grant itself a blob."""
    grants = BlobGrants()
    server.add_agent("agent-1", "pw-1")

    async def go() -> None:
        api = await nats.connect(**server.director_connect_options())
        subscription = await serve_agent_access(api, UUID, LocalAgentAccess(server, grants))
        errors: list[Exception] = []

        async def on_error(error: Exception) -> None:
            errors.append(error)

        agent = await nats.connect(server.agent_url("agent-1", "pw-1"), error_cb=on_error)
        try:
            with pytest.raises(Exception):
                await agent.request(access_subject(UUID), b'{"op": "grant", "agent_id": "agent-1", '
                                    b'"purpose": "apply", "reads": ["' + OTHER.encode() + b'"]}', timeout=2)
            assert not grants.may_read("agent-1", OTHER)
            assert any("permissions violation for publish" in str(e) for e in errors)
        finally:
            await agent.close()
            await subscription.unsubscribe()
            await api.close()

    asyncio.run(go())
