"""The PostgreSQL broker as a real process against a real PostgreSQL server, spoken to as a
platform speaks OSB v2: auth, the API version header, and ids that try SQL injection."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.cf.cc.plumbing import end_process, vm_python, wait_port
from tests.cf.services.processes import start_broker

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


def test_the_broker_serves_as_the_user_it_is_told_and_names_a_missing_one(tmp_path, pg):
    """The job starts it as root (its config is root's) with --user vcap; as root here, it
    must end up as that user, and an unknown user stops it before it serves."""
    python, env = vm_python(tmp_path)
    config = tmp_path / "broker.json"
    config.write_text(json.dumps({"port": 1, "username": "b", "password": "p",
                                  "postgres": {"host": "127.0.0.1", "admin_user": "postgres"}}))
    refused = subprocess.run([*python, "-m", "cf_platform.postgres_broker", "--config", str(config), "--user",
                              "no-such-user-here"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode == 2 and "--user no-such-user-here: no such user" in refused.stderr
    if os.geteuid() != 0:
        return
    broker = start_broker(tmp_path / "as-nobody", pg)
    end_process(broker.proc)
    path = tmp_path / "as-nobody" / "broker.json"
    path.chmod(0o600)   # root's, as under /var/vcap/jobs: read before the switch
    with open(tmp_path / "nobody.log", "wb") as log:
        proc = subprocess.Popen([*python, "-m", "cf_platform.postgres_broker", "--config", str(path), "--user",
                                 "nobody"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(broker.config["port"], proc=proc)
        status = Path(f"/proc/{proc.pid}/status").read_text().splitlines()
        uids = next(line for line in status if line.startswith("Uid:")).split()[1:]
        assert set(uids) == {str(pwd.getpwnam("nobody").pw_uid)}
        assert call(broker, "GET", "/v2/catalog").status_code == 200
    finally:
        end_process(proc)
