"""The router's access lines reach `cf-py logs` as RTR lines: a real router (nginx as its data
plane), the real log server, the real cloud controller authorizing cf-py, a backend on
127.0.0.2 registered for the app."""

from __future__ import annotations

import http.client

import pytest

from tests.cf.router.helpers import NatsClient, find_nginx, start_backend, start_router
from tests.harness import wait_until

from .log_server_support import CF_LINE


@pytest.fixture
def nginx_binary():
    binary = find_nginx()
    if binary is None:
        pytest.skip("nginx is not installed on the host (apt-get install nginx)")
    return binary


@pytest.fixture
def routed(nats_server, nginx_binary, log_server):
    backend = start_backend("backend-rtr", "127.0.0.2")
    router = start_router(nats_server, nginx_binary, log_server=log_server.emitter_settings("router"),
                          nginx={"request_metrics": False})
    client = NatsClient(nats_server)
    yield router, backend, client
    client.close()
    router.stop()
    backend.stop()


def get(router, host: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", router.port, timeout=10)
    try:
        conn.request("GET", "/hi", headers={"Host": host, "User-Agent": "rtr-test"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_access_lines_of_the_app_reach_cf_py_logs(routed, cf, app_guid):
    router, backend, nats = routed
    nats.publish("router.register", {"host": backend.host, "port": backend.port, "uris": ["talker.apps.test"],
                                     "app": app_guid, "private_instance_id": "iid-1", "private_instance_index": 2})
    wait_until(lambda: get(router, "talker.apps.test") == 200, timeout=15, message="the route in nginx")
    assert get(router, "nobody.apps.test") == 404          # no app: nobody's line
    rtr = wait_until(lambda: [l for l in cf.ok("logs", "talker", "--recent").splitlines() if "[RTR/" in l],
                     timeout=15, message="an RTR line in cf-py logs --recent")
    source, index, stream, message = CF_LINE.match(rtr[0]).groups()
    assert (source, index, stream) == ("RTR", "2", "OUT")
    assert message.startswith('talker.apps.test - [') and '"GET /hi HTTP/1.1" 200' in message
    assert f'"{backend.host}:{backend.port}"' in message and "rtr-test" in message
    assert not any("nobody.apps.test" in l for l in cf.ok("logs", "talker", "--recent").splitlines())
