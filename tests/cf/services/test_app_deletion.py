"""Deleting an app revokes its service bindings at the brokers first (as ``cf delete`` does):
through the CC's HTTP API, against the real PostgreSQL broker and server, and against a
scripted broker that refuses to unbind."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from tests.cf.services.scripted_broker import VALID_CATALOG, Answer, ScriptedBroker
from tests.cf.services.test_service_api import (
    create_instance,
    new_app,
    pg_connect,
    plan_guid,
    register,
)


def bind(cc, auth, app: str, instance: str) -> dict:
    r = httpx.post(cc.url + "/v2/service_bindings", headers=auth, timeout=30,
                   json={"app_guid": app, "service_instance_guid": instance})
    assert r.status_code == 201, r.text
    return r.json()


def test_deleting_an_app_drops_its_bindings_roles_and_keeps_the_others(cc, auth, pg_broker, pg):
    assert register(cc, auth, pg_broker).status_code == 201
    instance = create_instance(cc, auth, "orders-db", plan_guid(cc, auth)).json()["metadata"]["guid"]
    doomed, kept = new_app(cc, auth, "doomed"), new_app(cc, auth, "kept")
    doomed_creds = bind(cc, auth, doomed, instance)["entity"]["credentials"]
    kept_binding = bind(cc, auth, kept, instance)
    with pg_connect(doomed_creds) as conn:
        conn.execute("CREATE TABLE notes (v text)")
        conn.execute("INSERT INTO notes VALUES ('kept')")

    assert httpx.delete(cc.url + f"/v2/apps/{doomed}", headers=auth, timeout=60).status_code == 204

    assert doomed_creds["username"] not in pg.roles()
    with pytest.raises(psycopg.OperationalError):
        pg_connect(doomed_creds).close()
    left = httpx.get(cc.url + "/v2/service_bindings", headers=auth).json()["resources"]
    assert [b["metadata"]["guid"] for b in left] == [kept_binding["metadata"]["guid"]]
    with pg_connect(kept_binding["entity"]["credentials"]) as conn:
        assert conn.execute("SELECT v FROM notes").fetchall() == [("kept",)]
    assert httpx.delete(cc.url + f"/v2/apps/{kept}", headers=auth, timeout=60).status_code == 204
    assert kept_binding["entity"]["credentials"]["username"] not in pg.roles()
    assert httpx.delete(cc.url + f"/v2/service_instances/{instance}", headers=auth, timeout=60).status_code == 204


def test_an_app_whose_broker_refuses_to_unbind_is_not_deleted(cc, auth):
    broker = ScriptedBroker({("GET", "/v2/catalog"): Answer(200, VALID_CATALOG),
                             ("PUT", "/v2/service_instances/"): Answer(201, {"credentials": {"token": "t"}}),
                             ("DELETE", "/v2/service_instances/"): Answer(500, {"description": "disk on fire"})})
    broker.start()
    try:
        assert httpx.post(cc.url + "/v2/service_brokers", headers=auth, json={
            "name": "s", "broker_url": broker.url, "auth_username": "u", "auth_password": "p"}).status_code == 201
        instance = create_instance(cc, auth, "cache", plan_guid(cc, auth, "scripted")).json()["metadata"]["guid"]
        app = new_app(cc, auth, "stubborn")
        binding = bind(cc, auth, app, instance)["metadata"]["guid"]

        r = httpx.delete(cc.url + f"/v2/apps/{app}", headers=auth, timeout=60)
        assert r.status_code == 502 and "disk on fire" in r.json()["description"], r.text
        assert httpx.get(cc.url + f"/v2/apps/{app}", headers=auth).status_code == 200
        assert httpx.get(cc.url + f"/v2/service_bindings/{binding}", headers=auth).status_code == 200

        broker.answers[("DELETE", "/v2/service_instances/")] = Answer(200, {})
        assert httpx.delete(cc.url + f"/v2/apps/{app}", headers=auth, timeout=60).status_code == 204
        assert httpx.get(cc.url + f"/v2/apps/{app}", headers=auth).status_code == 404
        assert httpx.get(cc.url + f"/v2/service_bindings/{binding}", headers=auth).status_code == 404
        unbinds = [q for q in broker.requests if q["method"] == "DELETE" and f"/service_bindings/{binding}" in q["path"]]
        assert len(unbinds) == 2
    finally:
        broker.stop()
