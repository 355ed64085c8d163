"""Names unique per space in the CC's database itself (unique_names.py), and the rebuild of a
database from before, whose apps and service instances had names unique across the whole CC:
every row, route mapping, crash and binding survives, and a hand-edited database with two
rows of one name in one space stops the CC with a message naming them."""

from __future__ import annotations

import sqlite3

import pytest
from cf_platform.cloud_controller.app_rules import new_app
from cf_platform.cloud_controller.db import (
    DEFAULT_SPACE_GUID,
    SCHEMA,
    Database,
    NameTaken,
)
from cf_platform.cloud_controller.services.migration import migrate_services
from cf_platform.cloud_controller.unique_names import (
    DuplicateNames,
    has_global_name_unique,
)

from .test_migration import OLD_APPS

OLD_INSTANCES = """CREATE TABLE service_instances (
    guid TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, plan_guid TEXT NOT NULL REFERENCES service_plans(guid),
    operation_type TEXT NOT NULL, operation_state TEXT NOT NULL, operation_description TEXT NOT NULL DEFAULT '',
    broker_operation TEXT, dashboard_url TEXT, parameters TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"""
T = "2026-01-01T00:00:00Z"


def _app(name: str, space: str):
    return new_app({"name": name, "space_guid": space}, 128, 1024)


def _old_database(path) -> None:
    """Apps, a route, a crash, a broker, an instance and a binding as an older CC wrote them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.execute(OLD_APPS)
    db.execute(OLD_INSTANCES)
    db.execute("INSERT INTO apps (guid, name, memory, instances, disk_quota, state, package_state, version, "
               f"created_at, updated_at) VALUES ('app-1', 'web', 128, 1, 1024, 'STOPPED', 'PENDING', 'v1', '{T}', '{T}')")
    db.executescript(SCHEMA)      # the other tables as the CC makes them (apps and instances stay old)
    db.executescript(f"""
        INSERT INTO domains VALUES ('d-1', 'example.test', '{T}');
        INSERT INTO routes VALUES ('r-1', 'web', 'd-1', '{T}');
        INSERT INTO app_routes VALUES ('app-1', 'r-1');
        INSERT INTO crashes (app_guid, version, instance, idx, exit_status, exit_description, since)
            VALUES ('app-1', 'v1', 'i', 0, 1, 'boom', 1.0);
        INSERT INTO service_brokers VALUES ('b-1', 'b', 'http://127.0.0.1:1', 'u', 'p', '{T}');
        INSERT INTO services (guid, broker_guid, unique_id, label, description, bindable, created_at)
            VALUES ('s-1', 'b-1', 'svc', 'svc', 'd', 1, '{T}');
        INSERT INTO service_plans VALUES ('p-1', 's-1', 'plan', 'small', 'd', 1, '{T}');
        INSERT INTO service_instances (guid, name, plan_guid, operation_type, operation_state, created_at,
            updated_at) VALUES ('si-1', 'db', 'p-1', 'create', 'succeeded', '{T}', '{T}');
        INSERT INTO service_bindings (guid, app_guid, service_instance_guid, credentials, created_at)
            VALUES ('sb-1', 'app-1', 'si-1', '{{}}', '{T}');
    """)
    db.close()


def test_an_old_database_is_rebuilt_keeping_every_row_and_reference(tmp_path):
    path = tmp_path / "cc.sqlite3"
    _old_database(path)
    raw = sqlite3.connect(path)
    assert has_global_name_unique(raw, "apps")          # the old constraint is really there
    raw.close()
    db = Database(path)
    migrate_services(db)
    try:
        assert not has_global_name_unique(db._conn, "apps")
        assert not has_global_name_unique(db._conn, "service_instances")
        app = db.get_app("app-1")
        assert app is not None and app.name == "web" and app.space_guid == DEFAULT_SPACE_GUID
        assert [r.guid for r in db.app_routes("app-1")] == ["r-1"]
        assert len(db.crashes("app-1")) == 1
        assert db._query("SELECT guid FROM service_bindings")[0][0] == "sb-1"
        assert db._query("SELECT space_guid FROM service_instances WHERE guid = 'si-1'")[0][0] == DEFAULT_SPACE_GUID
        indexes = {r[0] for r in db._query("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"apps_space", "apps_space_name", "service_instances_space", "service_instances_space_name"} <= indexes
        assert db._query("PRAGMA foreign_keys")[0][0] == 1
        # the same name in another space is fine now; in the same space the database refuses it
        db.create_app(_app("web", "another-space"))
        with pytest.raises(NameTaken):
            db.create_app(_app("web", DEFAULT_SPACE_GUID))
        with pytest.raises(sqlite3.IntegrityError), db._tx() as c:
            c.execute("INSERT INTO service_instances (guid, name, plan_guid, operation_type, operation_state, "
                      f"created_at, updated_at, space_guid) VALUES ('si-2', 'db', 'p-1', 'create', 'succeeded', "
                      f"'{T}', '{T}', ?)", (DEFAULT_SPACE_GUID,))
    finally:
        db.close()
    db = Database(path)      # a second start: nothing to rebuild, nothing lost
    migrate_services(db)
    try:
        assert {a.name for a in db.list_apps()} == {"web"} and len(db.list_apps()) == 2
        assert [r.guid for r in db.app_routes("app-1")] == ["r-1"]
    finally:
        db.close()


def test_a_database_with_two_apps_of_one_name_in_one_space_stops_the_cc_naming_them(tmp_path):
    path = tmp_path / "cc.sqlite3"
    Database(path).close()
    raw = sqlite3.connect(path)
    raw.execute("DROP INDEX apps_space_name")          # as a hand-edited database would be
    for guid in ("a-1", "a-2"):
        raw.execute("INSERT INTO apps (guid, name, memory, instances, disk_quota, state, package_state, version, "
                    f"created_at, updated_at, space_guid) VALUES (?, 'twin', 128, 1, 1024, 'STOPPED', 'PENDING', "
                    f"'v', '{T}', '{T}', 'space-x')", (guid,))
    raw.commit()
    raw.close()
    with pytest.raises(DuplicateNames) as e:
        Database(path)
    assert "2 apps named 'twin' in space space-x" in str(e.value) and "table apps" in str(e.value)
