"""The PostgreSQL broker as a real process against a real PostgreSQL server, spoken to as a
platform speaks OSB v2: auth, the API version header, and ids that try SQL injection."""

from __future__ import annotations

import httpx
import pytest

HEADERS = {"X-Broker-Api-Version": "2.13"}


def call(broker, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, broker.url + path, auth=(broker.username, broker.password),
                         headers=HEADERS, timeout=30, **kwargs)


def ids(broker) -> dict:
    catalog = call(broker, "GET", "/v2/catalog").json()["services"][0]
    return {"service_id": catalog["id"], "plan_id": catalog["plans"][0]["id"]}


def test_the_catalog_needs_the_brokers_credentials_and_api_version(pg_broker):
    assert httpx.get(pg_broker.url + "/v2/catalog", headers=HEADERS).status_code == 401
    assert httpx.get(pg_broker.url + "/v2/catalog", headers=HEADERS,
                     auth=(pg_broker.username, "wrong")).status_code == 401
    r = httpx.get(pg_broker.url + "/v2/catalog", auth=(pg_broker.username, pg_broker.password))
    assert r.status_code == 412 and "X-Broker-Api-Version" in r.json()["description"]
    catalog = call(pg_broker, "GET", "/v2/catalog").json()
    assert catalog["services"][0]["name"] == "postgresql" and catalog["services"][0]["bindable"] is True


@pytest.mark.parametrize("instance_id", ['x"; DROP DATABASE postgres; --', "a'b", "x y", "a" * 51, "é"])
def test_ids_that_are_not_plain_are_refused(pg_broker, pg, instance_id):
    before = pg.databases()
    r = call(pg_broker, "PUT", "/v2/service_instances/" + httpx.URL("/" + instance_id).raw_path.decode()[1:],
             json=ids(pg_broker))
    assert r.status_code in (400, 404), r.text
    assert pg.databases() == before


def test_unknown_plan_and_double_provision_are_refused(pg_broker, pg):
    r = call(pg_broker, "PUT", "/v2/service_instances/abc-1", json={**ids(pg_broker), "plan_id": "other"})
    assert r.status_code == 400 and "plan_id" in r.json()["description"]
    assert call(pg_broker, "PUT", "/v2/service_instances/abc-1", json=ids(pg_broker)).status_code == 201
    try:
        assert call(pg_broker, "PUT", "/v2/service_instances/abc-1", json=ids(pg_broker)).status_code == 409
        r = call(pg_broker, "PUT", "/v2/service_instances/abc-1/service_bindings/bad'id", json=ids(pg_broker))
        assert r.status_code == 400
        assert call(pg_broker, "DELETE", "/v2/service_instances/abc-1/service_bindings/none",
                    params=ids(pg_broker)).status_code == 410
    finally:
        assert call(pg_broker, "DELETE", "/v2/service_instances/abc-1", params=ids(pg_broker)).status_code == 200
    assert "cf_abc-1" not in pg.databases()
    assert call(pg_broker, "DELETE", "/v2/service_instances/abc-1", params=ids(pg_broker)).status_code == 410


def test_deprovision_drops_the_roles_of_bindings_left_behind(pg_broker, pg):
    assert call(pg_broker, "PUT", "/v2/service_instances/left-1", json=ids(pg_broker)).status_code == 201
    creds = call(pg_broker, "PUT", "/v2/service_instances/left-1/service_bindings/b-1",
                 json=ids(pg_broker)).json()["credentials"]
    assert creds["username"] in pg.roles()
    assert call(pg_broker, "DELETE", "/v2/service_instances/left-1", params=ids(pg_broker)).status_code == 200
    assert not {creds["username"], "cf_left-1_owner"} & pg.roles()
    assert creds["password"] not in pg_broker.log() and creds["password"] not in pg.log.read_text()
