"""Syslog drains from service bindings: a broker answers a bind with ``syslog_drain_url``,
the cloud controller keeps it with the binding and tells the log server
(``GET /internal/log_drains``), and the log server forwards that app's lines to the drain.
A real CC process, a scripted broker, the real log server process and a syslog receiver,
all on loopback. The CC refuses drains that name a loopback or link-local address (400); a
host name passes and is judged by the log server when it connects (tests/cf/logs/test_drain_policy.py)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.cf.cc.plumbing import end_process, eventually, login, start_cc
from tests.cf.logs.log_server_support import (
    SyslogReceiver,
    post_lines,
    start_log_server,
)
from tests.cf.services.scripted_broker import VALID_CATALOG, Answer, ScriptedBroker
from tests.cf.services.test_service_api import create_instance, new_app, plan_guid


@pytest.fixture
def syslog():
    receiver = SyslogReceiver()
    yield receiver
    receiver.close()


LOGGING_CATALOG = {"services": [{**VALID_CATALOG["services"][0], "requires": ["syslog_drain"]}]}


@pytest.fixture
def broker(cc, auth):
    b = ScriptedBroker({("GET", "/v2/catalog"): Answer(200, LOGGING_CATALOG),
                        ("PUT", "/v2/service_instances/"): Answer(201, {}),
                        ("DELETE", "/v2/service_instances/"): Answer(200, {})}).start()
    try:
        r = httpx.post(cc.url + "/v2/service_brokers", headers=auth, json={
            "name": "drains", "broker_url": b.url, "auth_username": "u", "auth_password": "p"})
        assert r.status_code == 201, r.text
        yield b
    finally:
        b.stop()


def _instance_answering_binds_with(cc, auth, broker, answer: Answer) -> str:
    guid = create_instance(cc, auth, "logs-db", plan_guid(cc, auth, "scripted")).json()["metadata"]["guid"]
    broker.answers[("PUT", f"/v2/service_instances/{guid}/service_bindings/")] = answer
    return guid


def _drains(cc) -> dict:
    r = httpx.get(cc.url + "/internal/log_drains", auth=cc.internal_auth)
    assert r.status_code == 200, r.text
    return r.json()["drains"]


def _bind(cc, auth, app: str, instance: str) -> httpx.Response:
    return httpx.post(cc.url + "/v2/service_bindings", headers=auth, timeout=30,
                      json={"app_guid": app, "service_instance_guid": instance})


def test_a_bindings_drain_is_listed_for_its_app_until_it_is_unbound(cc, auth, broker):
    url = "syslog://logs.example.test:5514"
    instance = _instance_answering_binds_with(cc, auth, broker, Answer(201, {"credentials": {"k": "v"},
                                                                             "syslog_drain_url": url}))
    drained, quiet = new_app(cc, auth, "drained"), new_app(cc, auth, "quiet")
    binding = _bind(cc, auth, drained, instance)
    assert binding.status_code == 201, binding.text
    assert binding.json()["entity"]["syslog_drain_url"] == url
    broker.answers[("PUT", f"/v2/service_instances/{instance}/service_bindings/")] = Answer(201, {"credentials": {}})
    assert _bind(cc, auth, quiet, instance).status_code == 201          # a binding without a drain
    assert _drains(cc) == {drained: [url]}
    assert httpx.delete(cc.url + f"/v2/service_bindings/{binding.json()['metadata']['guid']}",
                        headers=auth).status_code == 204
    assert _drains(cc) == {}


@pytest.mark.parametrize("drain, words", [
    ("https://logs.example.test:5514", "must be syslog://host:port"),
    ("syslog://logs.example.test", "must be syslog://host:port"),
    ("syslog://user:drain-pw-Kx1@logs.example.test:5514", "must not carry credentials"),
    ("syslog://logs.example.test:5514/x?y", "without a path, query or fragment"),
    ("syslog://logs.example.test:5514\nINJECTED", "printable characters"),
    (42, "must be a string"),
    # the obvious SSRF targets, however the literal is spelled (the log server refuses them too)
    ("syslog://127.0.0.1:5514", "(127.0.0.1 is in 127.0.0.0/8, which is always blocked)"),
    ("syslog://127.1:5514", "(127.0.0.1 is in 127.0.0.0/8"),
    ("syslog://2130706433:5514", "(127.0.0.1 is in 127.0.0.0/8"),
    ("syslog://[::1]:5514", "(::1 is in ::1/128"),
    ("syslog://[::ffff:127.0.0.1]:5514", "(127.0.0.1 is in 127.0.0.0/8"),
    ("syslog://169.254.169.254:80", "(169.254.169.254 is in 169.254.0.0/16"),
    ("syslog://[fe80::1]:514", "(fe80::1 is in fe80::/10"),
    ("syslog://0.0.0.0:514", "(0.0.0.0 is in 0.0.0.0/8"),
])
def test_a_drain_the_log_server_cannot_use_fails_the_bind_and_is_undone(cc, auth, broker, drain, words):
    instance = _instance_answering_binds_with(cc, auth, broker, Answer(201, {"credentials": {},
                                                                             "syslog_drain_url": drain}))
    app = new_app(cc, auth, "drained")
    r = _bind(cc, auth, app, instance)
    assert r.status_code == 400 and r.json()["error_code"] == "CF-ServiceBindingInvalid", r.text
    assert r.json()["code"] == 90002 and words in r.json()["description"]
    assert "drain-pw-Kx1" not in r.text and "drain-pw-Kx1" not in cc.log()
    unbinds = [q for q in broker.requests if q["method"] == "DELETE" and "/service_bindings/" in q["path"]]
    assert len(unbinds) == 1                                           # undone at the broker
    assert httpx.get(cc.url + "/v2/service_bindings", headers=auth).json()["resources"] == []
    assert _drains(cc) == {}


def test_a_service_that_does_not_require_syslog_drain_may_not_drain(tmp_path, nats_server, dea):
    """As CF: the catalog the admin registered must ask for syslog_drain."""
    b = ScriptedBroker({("GET", "/v2/catalog"): Answer(200, VALID_CATALOG),
                        ("PUT", "/v2/service_instances/"): Answer(201, {}),
                        ("DELETE", "/v2/service_instances/"): Answer(200, {})}).start()
    cc = start_cc(tmp_path / "cc", nats_server)
    try:
        auth = login(cc)
        assert httpx.post(cc.url + "/v2/service_brokers", headers=auth, json={
            "name": "plain", "broker_url": b.url, "auth_username": "u", "auth_password": "p"}).status_code == 201
        services = httpx.get(cc.url + "/v2/services", headers=auth).json()["resources"]
        assert services[0]["entity"]["requires"] == []
        instance = _instance_answering_binds_with(cc, auth, b, Answer(201, {"credentials": {},
                                                                        "syslog_drain_url": "syslog://logs.example.test:5514"}))
        r = _bind(cc, auth, new_app(cc, auth, "drained"), instance)
        assert r.status_code == 502 and r.json()["error_code"] == "CF-ServiceBrokerInvalidSyslogDrainUrl", r.text
        assert [q["method"] for q in b.requests if "/service_bindings/" in q["path"]] == ["PUT", "DELETE"]
        assert _drains(cc) == {}
    finally:
        end_process(cc.proc)
        b.stop()


def test_the_apps_lines_reach_the_brokers_syslog_drain_through_the_log_server(tmp_path, cc, auth, broker, syslog):
    """``localhost`` passes the CC (a name); the log server, which blocks loopback, drains
    there only because this test exempts 127.0.0.1 and ::1 (drain_allowed_ranges)."""
    url = f"syslog://localhost:{syslog.port}"
    instance = _instance_answering_binds_with(cc, auth, broker, Answer(201, {"credentials": {},
                                                                             "syslog_drain_url": url}))
    app, other = new_app(cc, auth, "drained"), new_app(cc, auth, "other")
    user, password = cc.internal_auth
    server = start_log_server(tmp_path / "log_server", cc.url, drain_refresh_interval=0.2,
                              drain_allowed_ranges=["127.0.0.1/32", "::1/128"],
                              cloud_controller={"url": cc.url, "internal_user": user, "internal_password": password})
    try:
        assert _bind(cc, auth, app, instance).status_code == 201

        def drained() -> bool:   # the log server picks the drain up at its next refresh
            post_lines(server, "dea", [{"app": app, "source": "APP", "index": 1, "stream": "OUT",
                                        "timestamp": time.time(), "message": "to the broker's drain"},
                                       {"app": other, "source": "APP", "index": 0, "stream": "OUT",
                                        "timestamp": time.time(), "message": "not drained"}])
            return any("to the broker's drain" in m for m in syslog.messages)
        eventually(drained, timeout=15, interval=0.3)
        message = syslog.wait_for("to the broker's drain")
        assert message.startswith("<14>1 ") and f" {app} [APP/1] - - to the broker's drain" in message
        assert not any("not drained" in m for m in syslog.messages)
    finally:
        end_process(server.proc)


def test_a_bound_name_that_resolves_to_loopback_is_refused_by_the_log_server(tmp_path, cc, auth, broker, syslog):
    """The CC cannot judge a name; the log server (default policy) refuses it and counts it."""
    instance = _instance_answering_binds_with(cc, auth, broker, Answer(201, {
        "credentials": {}, "syslog_drain_url": f"syslog://localhost:{syslog.port}"}))
    app = new_app(cc, auth, "drained")
    user, password = cc.internal_auth
    server = start_log_server(tmp_path / "log_server", cc.url, drain_refresh_interval=0.2,
                              cloud_controller={"url": cc.url, "internal_user": user, "internal_password": password})
    try:
        assert _bind(cc, auth, app, instance).status_code == 201

        def refused() -> bool:
            post_lines(server, "dea", [{"app": app, "source": "APP", "index": 0, "stream": "OUT",
                                        "timestamp": time.time(), "message": "never drained"}])
            varz = httpx.get(server.url + "/varz", auth=server.sender_auth("dea"), timeout=10).json()
            return varz["syslog_drains_refused"] == 1
        eventually(refused, timeout=15, interval=0.3)
        assert syslog.accepted == 0 and syslog.messages == []
    finally:
        end_process(server.proc)
