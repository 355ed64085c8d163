"""The cloud controller's v2 service API, through HTTP as cf clients use it, against a real
CC process, the real PostgreSQL broker process and a real PostgreSQL server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx
import psycopg
import pytest

from tests.cf.cc.plumbing import eventually, make_zip
from tests.cf.services.scripted_broker import VALID_CATALOG, Answer, ScriptedBroker
from tests.harness import free_port


def register(cc, auth, broker, name: str = "pg") -> httpx.Response:
    return httpx.post(cc.url + "/v2/service_brokers", headers=auth, timeout=30, json={
        "name": name, "broker_url": broker.url, "auth_username": broker.username,
        "auth_password": broker.password})


def plan_guid(cc, auth, label: str = "postgresql") -> str:
    services = httpx.get(cc.url + "/v2/services", headers=auth).json()["resources"]
    service = next(s for s in services if s["entity"]["label"] == label)
    return service["entity"]["service_plans"][0]["metadata"]["guid"]


def create_instance(cc, auth, name: str, plan: str, async_: bool = False) -> httpx.Response:
    return httpx.post(cc.url + "/v2/service_instances", headers=auth, timeout=30,
                      params={"accepts_incomplete": "true"} if async_ else None,
                      json={"name": name, "service_plan_guid": plan})


def new_app(cc, auth, name: str = "reader") -> str:
    r = httpx.post(cc.url + "/v2/apps", headers=auth, json={"name": name, "memory": 64})
    assert r.status_code == 201, r.text
    return r.json()["metadata"]["guid"]


def pg_connect(credentials: dict):
    return psycopg.connect(host=credentials["hostname"], port=credentials["port"], user=credentials["username"],
                           password=credentials["password"], dbname=credentials["name"], connect_timeout=5,
                           autocommit=True)


def test_register_a_broker_lists_its_catalog_and_never_shows_its_password(cc, auth, pg_broker):
    r = register(cc, auth, pg_broker)
    assert r.status_code == 201, r.text
    assert r.json()["entity"] == {"name": "pg", "broker_url": pg_broker.url, "auth_username": "broker"}
    listed = httpx.get(cc.url + "/v2/service_brokers", headers=auth).text
    assert pg_broker.url in listed and pg_broker.password not in listed
    services = httpx.get(cc.url + "/v2/services", headers=auth).json()["resources"]
    assert [s["entity"]["label"] for s in services] == ["postgresql"]
    assert [p["entity"]["name"] for p in services[0]["entity"]["service_plans"]] == ["default"]
    plans = httpx.get(cc.url + "/v2/service_plans", headers=auth).json()["resources"]
    assert plans[0]["entity"]["unique_id"] == pg_broker.config.get("plan_id", plans[0]["entity"]["unique_id"])
    again = register(cc, auth, pg_broker)
    assert again.status_code == 400 and again.json()["error_code"] == "CF-ServiceBrokerNameTaken"
    assert pg_broker.password not in cc.log()


def test_provision_bind_unbind_deprovision_against_postgresql(cc, auth, pg_broker, pg):
    assert register(cc, auth, pg_broker).status_code == 201
    plan = plan_guid(cc, auth)
    r = create_instance(cc, auth, "orders-db", plan)
    assert r.status_code == 201, r.text
    instance = r.json()
    assert instance["entity"]["last_operation"]["state"] == "succeeded"
    database = "cf_" + instance["metadata"]["guid"]
    assert database in pg.databases()
    taken = create_instance(cc, auth, "orders-db", plan)
    assert taken.status_code == 400 and taken.json()["error_code"] == "CF-ServiceInstanceNameTaken"

    app = new_app(cc, auth)
    r = httpx.post(cc.url + "/v2/service_bindings", headers=auth, timeout=30,
                   json={"app_guid": app, "service_instance_guid": instance["metadata"]["guid"]})
    assert r.status_code == 201, r.text
    binding = r.json()
    creds = binding["entity"]["credentials"]
    assert creds["name"] == database and creds["hostname"] == "127.0.0.1"
    with pg_connect(creds) as conn:
        conn.execute("CREATE TABLE orders (id serial PRIMARY KEY, item text)")
        conn.execute("INSERT INTO orders (item) VALUES ('tea')")
        assert conn.execute("SELECT item FROM orders").fetchall() == [("tea",)]
    again = httpx.post(cc.url + "/v2/service_bindings", headers=auth,
                       json={"app_guid": app, "service_instance_guid": instance["metadata"]["guid"]})
    assert again.status_code == 400 and again.json()["error_code"] == "CF-ServiceBindingAppServiceTaken"

    # a second app's binding has its own role and password, and sees the first one's data
    other = httpx.post(cc.url + "/v2/service_bindings", headers=auth, json={
        "app_guid": new_app(cc, auth, "writer"), "service_instance_guid": instance["metadata"]["guid"]}).json()
    other_creds = other["entity"]["credentials"]
    assert other_creds["username"] != creds["username"] and other_creds["password"] != creds["password"]
    with pg_connect(other_creds) as conn:
        assert conn.execute("SELECT item FROM orders").fetchall() == [("tea",)]

    refused = httpx.delete(cc.url + f"/v2/service_instances/{instance['metadata']['guid']}", headers=auth)
    assert refused.status_code == 400 and refused.json()["error_code"] == "CF-AssociationNotEmpty"

    assert httpx.delete(cc.url + f"/v2/service_bindings/{binding['metadata']['guid']}", headers=auth,
                        timeout=30).status_code == 204
    with pytest.raises(psycopg.OperationalError):
        pg_connect(creds).close()
    with pg_connect(other_creds) as conn:   # the data stays, owned by the instance's owner role
        assert conn.execute("SELECT item FROM orders").fetchall() == [("tea",)]
    assert httpx.delete(cc.url + f"/v2/service_bindings/{other['metadata']['guid']}", headers=auth,
                        timeout=30).status_code == 204

    r = httpx.delete(cc.url + f"/v2/service_instances/{instance['metadata']['guid']}", headers=auth, timeout=30)
    assert r.status_code == 204, r.text
    assert database not in pg.databases()
    assert not {creds["username"], other_creds["username"], database + "_owner"} & pg.roles()
    gone = httpx.get(cc.url + f"/v2/service_instances/{instance['metadata']['guid']}", headers=auth)
    assert gone.status_code == 404 and gone.json()["error_code"] == "CF-ServiceInstanceNotFound"
    for secret in (creds["password"], other_creds["password"], pg_broker.password):
        assert secret not in cc.log() and secret not in pg_broker.log() and secret not in pg.log.read_text()


def test_async_provisioning_polls_last_operation_until_it_succeeds(tmp_path, nats_server, dea, pg_broker, pg):
    from tests.cf.cc.plumbing import end_process, login, start_cc
    cc = start_cc(tmp_path / "cc", nats_server, services={"poll_interval": 0.2})
    try:
        auth = login(cc)
        assert register(cc, auth, pg_broker).status_code == 201
        r = create_instance(cc, auth, "async-db", plan_guid(cc, auth), async_=True)
        assert r.status_code == 202, r.text
        assert r.json()["entity"]["last_operation"] == {**r.json()["entity"]["last_operation"],
                                                       "type": "create", "state": "in progress"}
        guid = r.json()["metadata"]["guid"]

        def done():
            op = httpx.get(cc.url + f"/v2/service_instances/{guid}", headers=auth).json()["entity"]["last_operation"]
            return op if op["state"] != "in progress" else None
        assert eventually(done, timeout=15)["state"] == "succeeded"
        assert "cf_" + guid in pg.databases()
        assert any("last_operation" in line for line in pg_broker.log().splitlines())
        assert httpx.delete(cc.url + f"/v2/service_instances/{guid}", headers=auth,
                            timeout=30).status_code == 204
    finally:
        end_process(cc.proc)


def test_async_operation_that_fails_shows_the_brokers_reason(tmp_path, nats_server, dea):
    from tests.cf.cc.plumbing import end_process, login, start_cc
    broker = ScriptedBroker({("GET", "/v2/catalog"): Answer(200, VALID_CATALOG),
                             ("PUT", "/v2/service_instances/"): Answer(202, {"operation": "op-7"}),
                             ("GET", "/v2/service_instances/"): Answer(200, {"state": "in progress"})}).start()
    cc = start_cc(tmp_path / "cc", nats_server, services={"poll_interval": 0.1})
    try:
        auth = login(cc)
        assert httpx.post(cc.url + "/v2/service_brokers", headers=auth, json={
            "name": "s", "broker_url": broker.url, "auth_username": "u", "auth_password": "p"}).status_code == 201
        r = create_instance(cc, auth, "slow", plan_guid(cc, auth, "scripted"), async_=True)
        assert r.status_code == 202
        guid = r.json()["metadata"]["guid"]
        eventually(lambda: any("last_operation" in q["path"] for q in broker.requests), timeout=10)
        polls = [q for q in broker.requests if "last_operation" in q["path"]]
        assert "operation=op-7" in polls[0]["path"] and polls[0]["headers"]["X-Broker-Api-Version"].startswith("2.")
        # a bind while the create is in progress is refused
        app = new_app(cc, auth)
        busy = httpx.post(cc.url + "/v2/service_bindings", headers=auth,
                          json={"app_guid": app, "service_instance_guid": guid})
        assert busy.status_code == 409 and busy.json()["error_code"] == "CF-AsyncServiceInstanceOperationInProgress"
        broker.answers[("GET", "/v2/service_instances/")] = Answer(200, {"state": "failed",
                                                                         "description": "out of disk"})

        def ended():
            op = httpx.get(cc.url + f"/v2/service_instances/{guid}", headers=auth).json()["entity"]["last_operation"]
            return op if op["state"] != "in progress" else None
        op = eventually(ended, timeout=10)
        assert op["state"] == "failed" and op["description"] == "out of disk"
    finally:
        end_process(cc.proc)
        broker.stop()


@pytest.mark.parametrize("answer, code, words", [
    (Answer(500, {"description": "database on fire"}), "CF-ServiceBrokerBadResponse", "database on fire"),
    (Answer(200, b"<html>not json"), "CF-ServiceBrokerBadResponse", "not a JSON object"),
    (Answer(401, {}), "CF-ServiceBrokerRequestRejected", "status 401"),
    (Answer(302, b"", headers={"Location": "http://127.0.0.2:1/v2/catalog"}), "CF-ServiceBrokerBadResponse",
     "status 302"),
    (Answer(200, {"services": [{"id": "x", "name": "bad name!", "description": "d", "plans": []}]}),
     "CF-ServiceBrokerCatalogInvalid", "services[0].plans"),
    (Answer(200, {"services": [{"id": "x", "name": "n", "description": "d",
                                "plans": [{"id": "p", "name": "bad name!", "description": "d"}]}]}),
     "CF-ServiceBrokerCatalogInvalid", "services[0].plans[0].name"),
    (Answer(200, {"services": [{**VALID_CATALOG["services"][0], "requires": ["mind_control"]}]}),
     "CF-ServiceBrokerCatalogInvalid", "services[0].requires must list some of syslog_drain"),
    (Answer(200, VALID_CATALOG, delay=3), "CF-ServiceBrokerApiTimeout", "did not answer GET /v2/catalog within 1 s"),
])
def test_bad_broker_answers_become_clear_errors_and_register_nothing(tmp_path, nats_server, dea, answer, code, words):
    from tests.cf.cc.plumbing import end_process, login, start_cc
    broker = ScriptedBroker({("GET", "/v2/catalog"): answer}).start()
    cc = start_cc(tmp_path / "cc", nats_server, services={"broker_timeout": 1})
    try:
        auth = login(cc)
        r = httpx.post(cc.url + "/v2/service_brokers", headers=auth, timeout=30, json={
            "name": "bad", "broker_url": broker.url, "auth_username": "u", "auth_password": "sekrit-pw"})
        assert r.status_code in (502, 504), r.text
        assert r.json()["error_code"] == code and words in r.json()["description"], r.json()
        assert "sekrit-pw" not in r.text
        assert httpx.get(cc.url + "/v2/service_brokers", headers=auth).json()["resources"] == []
        assert httpx.get(cc.url + "/v2/services", headers=auth).json()["resources"] == []
        assert broker.requests[0]["headers"]["X-Broker-Api-Version"].startswith("2.")
        assert broker.requests[0]["headers"]["Authorization"] == "Basic " + base64.b64encode(b"u:sekrit-pw").decode()
        assert len(broker.requests) == 1    # the redirect was not followed
    finally:
        end_process(cc.proc)
        broker.stop()


@pytest.mark.parametrize("url, words", [
    ("ftp://127.0.0.1/broker", "must be an http:// or https:// URL"),
    ("file:///etc/passwd", "must be an http:// or https:// URL"),
    ("http://user:pw@127.0.0.1:1", "must not carry credentials"),
    ("http:///nohost", "has no host"),
    ("http://127.0.0.1:1/x?y=1", "must not have a query"),
    ("", "broker_url is required"),
])
def test_a_broker_url_must_be_plain_http(cc, auth, url, words):
    r = httpx.post(cc.url + "/v2/service_brokers", headers=auth, json={
        "name": "x", "broker_url": url, "auth_username": "u", "auth_password": "p"})
    assert r.status_code == 400 and r.json()["error_code"] == "CF-ServiceBrokerUrlInvalid"
    assert words in r.json()["description"]


def test_an_unreachable_broker_is_named(cc, auth):
    port = free_port()
    r = httpx.post(cc.url + "/v2/service_brokers", headers=auth, json={
        "name": "gone", "broker_url": f"http://127.0.0.1:{port}", "auth_username": "u", "auth_password": "p"})
    assert r.status_code == 502 and r.json()["error_code"] == "CF-ServiceBrokerApiUnreachable"
    assert f"http://127.0.0.1:{port} could not be reached" in r.json()["description"]


def test_broker_failures_on_provision_and_bind(cc, auth):
    broker = ScriptedBroker({("GET", "/v2/catalog"): Answer(200, VALID_CATALOG),
                             ("PUT", "/v2/service_instances/"): Answer(422, {"error": "AsyncRequired",
                                                                            "description": "async only"}),
                             ("DELETE", "/v2/service_instances/"): Answer(200, {})}).start()
    try:
        assert httpx.post(cc.url + "/v2/service_brokers", headers=auth, json={
            "name": "s", "broker_url": broker.url, "auth_username": "u", "auth_password": "p"}).status_code == 201
        plan = plan_guid(cc, auth, "scripted")
        r = create_instance(cc, auth, "needs-async", plan)
        assert r.status_code == 400 and r.json()["error_code"] == "CF-AsyncRequired"
        assert "accepts_incomplete=true" in r.json()["description"]
        assert httpx.get(cc.url + "/v2/service_instances", headers=auth).json()["resources"] == []
        broker.answers[("PUT", "/v2/service_instances/")] = Answer(500, {"description": "no room"})
        r = create_instance(cc, auth, "broken", plan)
        assert r.status_code == 502 and "no room" in r.json()["description"]
        assert httpx.get(cc.url + "/v2/service_instances", headers=auth).json()["resources"] == []
        # the broker may have made it anyway: the CC asks it to delete it (orphan mitigation)
        assert any(q["method"] == "DELETE" for q in broker.requests)
        broker.answers[("PUT", "/v2/service_instances/")] = Answer(201, {})
        instance = create_instance(cc, auth, "ok", plan).json()
        broker.answers[("PUT", "/v2/service_instances/" + instance["metadata"]["guid"] + "/service_bindings/")] = \
            Answer(201, {"credentials": "not an object"})
        r = httpx.post(cc.url + "/v2/service_bindings", headers=auth, json={
            "app_guid": new_app(cc, auth), "service_instance_guid": instance["metadata"]["guid"]})
        assert r.status_code == 502 and "credentials are not a JSON object" in r.json()["description"]
        bad = httpx.post(cc.url + "/v2/service_bindings", headers=auth, json={
            "app_guid": "nope", "service_instance_guid": instance["metadata"]["guid"]})
        assert bad.status_code == 404 and bad.json()["error_code"] == "CF-AppNotFound"
        bad = create_instance(cc, auth, "x", "no-such-plan")
        assert bad.status_code == 404 and bad.json()["error_code"] == "CF-ServicePlanNotFound"
        bad = httpx.post(cc.url + "/v2/service_instances", headers=auth, json={"service_plan_guid": plan})
        assert bad.status_code == 400 and "name" in bad.json()["description"]
    finally:
        broker.stop()


def _token(secret: str, scopes: list[str]) -> dict[str, str]:
    """A token as the CC's issuer makes them, with only the given scopes."""
    b64 = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode()
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64(json.dumps({"user_name": "auditor", "scope": scopes, "exp": int(time.time()) + 600}).encode())
    sig = b64(hmac.new(secret.encode(), f"{head}.{claims}".encode(), hashlib.sha256).digest())
    return {"Authorization": f"bearer {head}.{claims}.{sig}"}


def test_read_only_tokens_without_roles_see_no_bindings_and_change_nothing(cc, auth):
    """A read-only token of a user with no role (tests/cf/services/test_services_tenancy.py has
    the auditors and developers of a space): no broker, no instance, no binding, no secret."""
    broker = ScriptedBroker({("GET", "/v2/catalog"): Answer(200, VALID_CATALOG),
                             ("PUT", "/v2/service_instances/"): Answer(201, {})}).start()
    try:
        reader = _token(cc.config["token_secret"], ["cloud_controller.read"])
        denied = httpx.post(cc.url + "/v2/service_brokers", headers=reader, json={
            "name": "s", "broker_url": broker.url, "auth_username": "u", "auth_password": "p"})
        assert denied.status_code == 403 and denied.json()["error_code"] == "CF-InsufficientScope"
        assert broker.requests == []
        assert httpx.post(cc.url + "/v2/service_brokers", headers=auth, json={
            "name": "s", "broker_url": broker.url, "auth_username": "u", "auth_password": "p"}).status_code == 201
        assert httpx.get(cc.url + "/v2/service_brokers", headers=reader).json()["resources"] == []
        plan = plan_guid(cc, auth, "scripted")
        assert create_instance(cc, reader, "x", plan).status_code == 403
        instance = create_instance(cc, auth, "x", plan).json()
        broker.answers[("PUT", "/v2/service_instances/" + instance["metadata"]["guid"] + "/service_bindings/")] = \
            Answer(201, {"credentials": {"password": "bound-secret"}})
        binding = httpx.post(cc.url + "/v2/service_bindings", headers=auth, json={
            "app_guid": new_app(cc, auth), "service_instance_guid": instance["metadata"]["guid"]}).json()
        seen = httpx.get(cc.url + f"/v2/service_bindings/{binding['metadata']['guid']}", headers=reader)
        assert seen.status_code == 404 and seen.json()["error_code"] == "CF-ServiceBindingNotFound"
        listed = httpx.get(cc.url + "/v2/service_bindings", headers=reader)
        assert listed.json()["resources"] == [] and "bound-secret" not in listed.text
        assert httpx.get(cc.url + "/v2/service_instances", headers=reader).json()["resources"] == []
        assert httpx.get(cc.url + f"/v2/service_bindings/{binding['metadata']['guid']}",
                         headers=auth).json()["entity"]["credentials"] == {"password": "bound-secret"}
        assert httpx.get(cc.url + "/v2/service_brokers").status_code == 401
        assert "bound-secret" not in cc.log()
    finally:
        broker.stop()


def test_bindings_reach_the_app_as_vcap_services_on_the_next_start(cc, auth, dea):
    from cf_platform.dea.app_env import vcap_services
    broker = ScriptedBroker({("GET", "/v2/catalog"): Answer(200, VALID_CATALOG),
                             ("PUT", "/v2/service_instances/"): Answer(201, {})}).start()
    try:
        assert httpx.post(cc.url + "/v2/service_brokers", headers=auth, json={
            "name": "s", "broker_url": broker.url, "auth_username": "u", "auth_password": "p"}).status_code == 201
        instance = create_instance(cc, auth, "my-db", plan_guid(cc, auth, "scripted")).json()
        guid = new_app(cc, auth, "hello")
        r = httpx.put(cc.url + f"/v2/apps/{guid}/bits", headers=auth,
                      files={"application": ("app.zip", make_zip({"app.py": "print(1)"}), "application/zip")})
        assert r.status_code == 201, r.text
        httpx.put(cc.url + f"/v2/apps/{guid}", headers=auth, json={"state": "STARTED"})
        eventually(lambda: len(dea.starts) == 1, timeout=15)
        assert dea.starts[0]["services"] == []
        broker.answers[("PUT", "/v2/service_instances/" + instance["metadata"]["guid"] + "/service_bindings/")] = \
            Answer(201, {"credentials": {"uri": "postgres://u:pw@db/x"}})
        assert httpx.post(cc.url + "/v2/service_bindings", headers=auth, json={
            "app_guid": guid, "service_instance_guid": instance["metadata"]["guid"]}).status_code == 201
        httpx.put(cc.url + f"/v2/apps/{guid}", headers=auth, json={"state": "STOPPED"})
        httpx.put(cc.url + f"/v2/apps/{guid}", headers=auth, json={"state": "STARTED"})
        eventually(lambda: len(dea.starts) == 2, timeout=15)
        assert json.loads(vcap_services(dea.starts[1]["services"])) == {"scripted": [{
            "name": "my-db", "label": "scripted", "plan": "small", "tags": ["test"], "instance_name": "my-db",
            "binding_name": None, "credentials": {"uri": "postgres://u:pw@db/x"}}]}
        assert "postgres://u:pw@db/x" not in cc.log()
    finally:
        broker.stop()


def test_an_existing_cc_database_gains_the_service_tables_in_place(tmp_path, nats_server, dea):
    """A CC database from before services: the CC starts on it, keeps its apps and serves services."""
    import sqlite3

    from cf_platform.cloud_controller.db import SCHEMA

    from tests.cf.cc.plumbing import end_process, login, start_cc
    old_schema = SCHEMA.split("-- service brokers", 1)[0]
    store = tmp_path / "cc" / "store"
    store.mkdir(parents=True)
    conn = sqlite3.connect(store / "cloud_controller.sqlite3")
    conn.executescript(old_schema)
    conn.execute("INSERT INTO apps (guid, name, memory, instances, disk_quota, state, package_state, version, "
                 "created_at, updated_at) VALUES ('g1', 'old-app', 64, 1, 256, 'STOPPED', 'PENDING', 'v1', "
                 "'2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')")
    conn.commit()
    assert "service_brokers" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    cc = start_cc(tmp_path / "cc", nats_server)
    try:
        auth = login(cc)
        assert [a["entity"]["name"] for a in httpx.get(cc.url + "/v2/apps", headers=auth).json()["resources"]] \
            == ["old-app"]
        r = httpx.get(cc.url + "/v2/service_brokers", headers=auth)
        assert r.status_code == 200 and r.json()["resources"] == []
        r = httpx.get(cc.url + "/v2/apps/g1/service_bindings", headers=auth)
        assert r.status_code == 200 and r.json()["resources"] == []
    finally:
        end_process(cc.proc)


def test_async_delete_removes_the_instance_when_the_broker_is_done(tmp_path, nats_server, dea):
    from tests.cf.cc.plumbing import end_process, login, start_cc
    broker = ScriptedBroker({("GET", "/v2/catalog"): Answer(200, VALID_CATALOG),
                             ("PUT", "/v2/service_instances/"): Answer(201, {}),
                             ("DELETE", "/v2/service_instances/"): Answer(202, {"operation": "del-1"}),
                             ("GET", "/v2/service_instances/"): Answer(200, {"state": "in progress"})}).start()
    cc = start_cc(tmp_path / "cc", nats_server, services={"poll_interval": 0.1})
    try:
        auth = login(cc)
        assert httpx.post(cc.url + "/v2/service_brokers", headers=auth, json={
            "name": "s", "broker_url": broker.url, "auth_username": "u", "auth_password": "p"}).status_code == 201
        guid = create_instance(cc, auth, "x", plan_guid(cc, auth, "scripted")).json()["metadata"]["guid"]
        r = httpx.delete(cc.url + f"/v2/service_instances/{guid}", headers=auth, params={"accepts_incomplete": "true"})
        assert r.status_code == 202 and r.json()["entity"]["last_operation"]["type"] == "delete"
        eventually(lambda: any("operation=del-1" in q["path"] for q in broker.requests), timeout=10)
        assert httpx.get(cc.url + f"/v2/service_instances/{guid}", headers=auth).status_code == 200
        broker.answers[("GET", "/v2/service_instances/")] = Answer(200, {"state": "succeeded"})
        eventually(lambda: httpx.get(cc.url + f"/v2/service_instances/{guid}", headers=auth).status_code == 404,
                   timeout=10)
    finally:
        end_process(cc.proc)
        broker.stop()
