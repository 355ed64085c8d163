"""Fixtures: a real nats-server, a test blobstore, and a real agent subprocess under a
temporary root. Everything is stopped by PID at the end."""

from __future__ import annotations

import secrets

import pytest

from bosh_py.mbus.server import NatsServer
from tests.agent.helpers import AgentProcess, TestBlobstore, with_client
from tests.harness import free_port


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory):
    server = NatsServer(tmp_path_factory.mktemp("nats"), "127.0.0.1", free_port(),
                        director_password=secrets.token_urlsafe(16))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def blobstore(tmp_path_factory):
    store = TestBlobstore(tmp_path_factory.mktemp("blobs")).start()
    yield store
    store.stop()


@pytest.fixture(scope="module")
def agent(tmp_path_factory, nats_server, blobstore):
    base = tmp_path_factory.mktemp("vm")
    proc = AgentProcess(base / "root", "agent-1", nats_server, blobstore)
    proc.root.mkdir()
    proc.start()
    try:
        async def ready(client, nc):
            await client.wait_until_ready(timeout=30)
        with_client(nats_server, proc.agent_id, ready)
        yield proc
    finally:
        proc.stop()
        proc.kill_jobs()
