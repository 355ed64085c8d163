"""A real nats-server per test module, managed by bosh_py.mbus.server.NatsServer."""

from __future__ import annotations

import secrets

import pytest

from bosh_py.mbus.server import NatsServer
from tests.harness import free_port


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory):
    server = NatsServer(tmp_path_factory.mktemp("nats"), "127.0.0.1", free_port(),
                        director_password=secrets.token_urlsafe(16),
                        hm_user="hm", hm_password=secrets.token_urlsafe(16))
    server.start()
    yield server
    server.stop()
