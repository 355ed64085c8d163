"""A CC database from before service instances had spaces (and bindings drains): the real CC
starts on it, gives every instance a space and keeps every binding, twice over (the
migration runs at every start)."""

from __future__ import annotations

import sqlite3

import httpx
from cf_platform.cloud_controller.db import DEFAULT_SPACE_GUID, SCHEMA, migrate

from tests.cf.cc.plumbing import end_process, login, start_cc

T = "2026-11-01T00:00:00Z"


def _old_database(path) -> None:
    """Apps in two spaces; instance i-dev bound only to an app of dev, i-mixed bound to apps
    of two spaces, i-free bound to none (the service tables as they were)."""
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(SCHEMA)
    migrate(conn)
    columns = {r[1] for r in conn.execute("PRAGMA table_info(service_instances)")}
    assert "space_guid" not in columns
    conn.execute("INSERT INTO organizations VALUES ('org-acme', 'acme', ?)", (T,))
    conn.execute("INSERT INTO spaces VALUES ('space-dev', 'dev', 'org-acme', ?)", (T,))
    for guid, space in (("app-dev", "space-dev"), ("app-default", DEFAULT_SPACE_GUID)):
        conn.execute("INSERT INTO apps (guid, name, memory, instances, disk_quota, state, package_state, version, "
                     "created_at, updated_at, space_guid) VALUES (?, ?, 64, 1, 256, 'STOPPED', 'PENDING', 'v1', ?, ?, ?)",
                     (guid, guid, T, T, space))
    conn.execute("INSERT INTO service_brokers VALUES ('b1', 'old', 'http://127.0.0.1:9', 'u', 'p', ?)", (T,))
    conn.execute("INSERT INTO services VALUES ('s1', 'b1', 'svc', 'old-svc', 'd', 1, '[]', ?)", (T,))
    conn.execute("INSERT INTO service_plans VALUES ('p1', 's1', 'plan', 'small', 'd', 1, ?)", (T,))
    for guid in ("i-dev", "i-mixed", "i-free"):
        conn.execute("INSERT INTO service_instances (guid, name, plan_guid, operation_type, operation_state, "
                     "created_at, updated_at) VALUES (?, ?, 'p1', 'create', 'succeeded', ?, ?)", (guid, guid, T, T))
    for guid, app, instance in (("bd1", "app-dev", "i-dev"), ("bm1", "app-dev", "i-mixed"),
                                ("bm2", "app-default", "i-mixed")):
        conn.execute("INSERT INTO service_bindings VALUES (?, ?, ?, '{\"k\": \"v\"}', ?)", (guid, app, instance, T))
    conn.close()


def test_old_instances_get_a_space_and_old_bindings_stay(tmp_path, nats_server, dea):
    _old_database(tmp_path / "cc" / "store" / "cloud_controller.sqlite3")
    for _start in range(2):
        cc = start_cc(tmp_path / "cc", nats_server)
        try:
            auth = login(cc)
            instances = httpx.get(cc.url + "/v2/service_instances", headers=auth).json()["resources"]
            assert {i["entity"]["name"]: i["entity"]["space_guid"] for i in instances} == {
                "i-dev": "space-dev", "i-mixed": DEFAULT_SPACE_GUID, "i-free": DEFAULT_SPACE_GUID}
            bindings = httpx.get(cc.url + "/v2/service_bindings", headers=auth).json()["resources"]
            assert sorted(b["metadata"]["guid"] for b in bindings) == ["bd1", "bm1", "bm2"]
            assert all(b["entity"]["syslog_drain_url"] is None for b in bindings)
            services = httpx.get(cc.url + "/v2/services", headers=auth).json()["resources"]
            assert [s["entity"]["requires"] for s in services] == [[]]
            r = httpx.get(cc.url + "/internal/log_drains", auth=cc.internal_auth)
            assert r.status_code == 200 and r.json() == {"drains": {}}
        finally:
            end_process(cc.proc)
