"""SQLite persistence of the desired state (apps, routes, domains), recent crashes and the
tenancy (organizations, spaces, users, roles: queried by tenancy/store.py).

The schema grows in place: every table is ``CREATE ... IF NOT EXISTS`` on each start, and a
column added to an existing table is added by :func:`migrate` (``apps.space_guid``: the apps
of a database from before orgs and spaces land in the default org's default space). App
names are unique per space, enforced by a unique index (unique_names.py rebuilds the apps
table of an older database, whose names were unique across the CC).

One connection shared by the HTTP threads and the NATS loop, behind a lock: the CC writes
rarely and briefly, and one connection keeps SQLite's locking out of the picture. The file
lives on the persistent disk so a recreated VM keeps every app.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .models import App, Crash, Domain, Route
from .unique_names import drop_global_name_unique, unique_per_space

APPS_TABLE = """
CREATE TABLE IF NOT EXISTS TABLE_NAME (
    guid TEXT PRIMARY KEY,
    name TEXT NOT NULL,               -- unique per space (unique_names.py)
    memory INTEGER NOT NULL,
    instances INTEGER NOT NULL,
    disk_quota INTEGER NOT NULL,
    state TEXT NOT NULL,
    package_state TEXT NOT NULL,
    version TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    buildpack TEXT,
    environment TEXT NOT NULL DEFAULT '{}',
    bits_sha1 TEXT,
    package_updated_at TEXT,
    droplet_sha1 TEXT,
    detected_buildpack TEXT,
    start_command TEXT,
    staging_failed_reason TEXT,
    staging_failed_description TEXT,
    staging_log TEXT NOT NULL DEFAULT '',
    staging_task_id TEXT,
    space_guid TEXT
);
"""

SCHEMA = APPS_TABLE.replace("TABLE_NAME", "apps") + """
CREATE TABLE IF NOT EXISTS domains (
    guid TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS routes (
    guid TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    domain_guid TEXT NOT NULL REFERENCES domains(guid),
    created_at TEXT NOT NULL,
    UNIQUE (host, domain_guid)
);
CREATE TABLE IF NOT EXISTS app_routes (
    app_guid TEXT NOT NULL REFERENCES apps(guid) ON DELETE CASCADE,
    route_guid TEXT NOT NULL REFERENCES routes(guid) ON DELETE CASCADE,
    PRIMARY KEY (app_guid, route_guid)
);
-- tenancy (tenancy/store.py)
CREATE TABLE IF NOT EXISTS organizations (
    guid TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS spaces (
    guid TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    organization_guid TEXT NOT NULL REFERENCES organizations(guid) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    UNIQUE (organization_guid, name)
);
CREATE TABLE IF NOT EXISTS users (
    guid TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS org_roles (
    organization_guid TEXT NOT NULL REFERENCES organizations(guid) ON DELETE CASCADE,
    user_guid TEXT NOT NULL REFERENCES users(guid) ON DELETE CASCADE,
    role TEXT NOT NULL,
    PRIMARY KEY (organization_guid, user_guid, role)
);
CREATE TABLE IF NOT EXISTS space_roles (
    space_guid TEXT NOT NULL REFERENCES spaces(guid) ON DELETE CASCADE,
    user_guid TEXT NOT NULL REFERENCES users(guid) ON DELETE CASCADE,
    role TEXT NOT NULL,
    PRIMARY KEY (space_guid, user_guid, role)
);
CREATE TABLE IF NOT EXISTS crashes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_guid TEXT NOT NULL REFERENCES apps(guid) ON DELETE CASCADE,
    version TEXT NOT NULL,
    instance TEXT NOT NULL,
    idx INTEGER NOT NULL,
    exit_status INTEGER,
    exit_description TEXT NOT NULL,
    since REAL NOT NULL
);
-- service brokers (services/): added in place to an existing database, since every table
-- here is created IF NOT EXISTS on each start
CREATE TABLE IF NOT EXISTS service_brokers (
    guid TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    broker_url TEXT NOT NULL,
    auth_username TEXT NOT NULL,
    auth_password TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS services (
    guid TEXT PRIMARY KEY,
    broker_guid TEXT NOT NULL REFERENCES service_brokers(guid) ON DELETE CASCADE,
    unique_id TEXT NOT NULL,
    label TEXT NOT NULL,
    description TEXT NOT NULL,
    bindable INTEGER NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    UNIQUE (broker_guid, unique_id)
);
CREATE TABLE IF NOT EXISTS service_plans (
    guid TEXT PRIMARY KEY,
    service_guid TEXT NOT NULL REFERENCES services(guid) ON DELETE CASCADE,
    unique_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    free INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (service_guid, unique_id)
);
-- space_guid is added by services/migration.py, which also rebuilds a table from before names
-- were unique per space (its INSTANCES_TABLE is this table's current shape)
CREATE TABLE IF NOT EXISTS service_instances (
    guid TEXT PRIMARY KEY,
    name TEXT NOT NULL,               -- unique per space (unique_names.py)
    plan_guid TEXT NOT NULL REFERENCES service_plans(guid),
    operation_type TEXT NOT NULL,
    operation_state TEXT NOT NULL,
    operation_description TEXT NOT NULL DEFAULT '',
    broker_operation TEXT,
    dashboard_url TEXT,
    parameters TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS service_bindings (
    guid TEXT PRIMARY KEY,
    app_guid TEXT NOT NULL REFERENCES apps(guid) ON DELETE CASCADE,
    service_instance_guid TEXT NOT NULL REFERENCES service_instances(guid),
    credentials TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (app_guid, service_instance_guid)
);
"""

MAX_CRASHES_PER_APP = 50
DEFAULT_ORG = "default"
DEFAULT_SPACE = "default"
DEFAULT_ORG_GUID = str(uuid.uuid5(uuid.NAMESPACE_URL, "cf-py:organization:default"))
DEFAULT_SPACE_GUID = str(uuid.uuid5(uuid.NAMESPACE_URL, "cf-py:space:default/default"))


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_guid() -> str:
    return str(uuid.uuid4())


class NameTaken(Exception):
    pass


class HostTaken(Exception):
    pass


_APP_COLUMNS = [f.name for f in fields(App)]


def _app(row: sqlite3.Row) -> App:
    values: dict[str, Any] = {k: row[k] for k in _APP_COLUMNS}
    values["environment"] = json.loads(values["environment"] or "{}")
    values["staging_log"] = values["staging_log"] or ""
    return App(**values)


class Database:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.executescript(SCHEMA)
            drop_global_name_unique(self._conn, "apps", APPS_TABLE)
            migrate(self._conn)
            unique_per_space(self._conn, "apps", "app")

    def names_unique_per_space(self, table: str, create_sql: str, what: str) -> None:
        """unique_names.py for a table another part owns (services/migration.py's instances)."""
        with self._lock:
            drop_global_name_unique(self._conn, table, create_sql)
            unique_per_space(self._conn, table, what)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- plumbing -------------------------------------------------------------------------

    def _tx(self) -> "_Tx":
        return _Tx(self._conn, self._lock)

    def _query(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    # -- apps -----------------------------------------------------------------------------

    def create_app(self, app: App) -> App:
        values = {k: getattr(app, k) for k in _APP_COLUMNS}
        values["environment"] = json.dumps(app.environment)
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        try:
            with self._tx() as c:
                c.execute(f"INSERT INTO apps ({cols}) VALUES ({marks})", tuple(values.values()))
        except sqlite3.IntegrityError as e:
            raise NameTaken(app.name) from e
        return app

    def get_app(self, guid: str) -> App | None:
        rows = self._query("SELECT * FROM apps WHERE guid = ?", (guid,))
        return _app(rows[0]) if rows else None

    def app_by_name(self, name: str, space_guid: str) -> App | None:
        """Names are unique per space (unique_names.py), not across the CC."""
        rows = self._query("SELECT * FROM apps WHERE name = ? AND space_guid = ?", (name, space_guid))
        return _app(rows[0]) if rows else None

    def apps_in_space(self, space_guid: str) -> list[App]:
        rows = self._query("SELECT * FROM apps WHERE space_guid = ? ORDER BY name", (space_guid,))
        return [_app(r) for r in rows]

    def list_apps(self) -> list[App]:
        return [_app(r) for r in self._query("SELECT * FROM apps ORDER BY created_at, name")]

    def update_app(self, guid: str, **changes: Any) -> App | None:
        """Apply column changes; returns the new row (None if the app is gone)."""
        if changes:
            if "environment" in changes:
                changes["environment"] = json.dumps(changes["environment"])
            changes.setdefault("updated_at", now_iso())
            sets = ", ".join(f"{k} = ?" for k in changes)
            try:
                with self._tx() as c:
                    c.execute(f"UPDATE apps SET {sets} WHERE guid = ?", (*changes.values(), guid))
            except sqlite3.IntegrityError as e:
                raise NameTaken(str(changes.get("name"))) from e
        return self.get_app(guid)

    def delete_app(self, guid: str) -> list[str]:
        """Delete the app; returns the guids of routes it was the only user of (deleted too)."""
        with self._tx() as c:
            route_guids = [r[0] for r in c.execute(
                "SELECT route_guid FROM app_routes WHERE app_guid = ? AND route_guid NOT IN "
                "(SELECT route_guid FROM app_routes WHERE app_guid != ?)", (guid, guid))]
            c.execute("DELETE FROM apps WHERE guid = ?", (guid,))
            for r in route_guids:
                c.execute("DELETE FROM routes WHERE guid = ?", (r,))
        return route_guids

    # -- domains --------------------------------------------------------------------------

    def ensure_domain(self, name: str) -> Domain:
        """The shared domain from the job properties; its guid is derived from the name so
        it stays the same across restarts and CC instances."""
        guid = str(uuid.uuid5(uuid.NAMESPACE_DNS, name))
        with self._tx() as c:
            c.execute("INSERT OR IGNORE INTO domains (guid, name, created_at) VALUES (?, ?, ?)",
                      (guid, name, now_iso()))
        rows = self._query("SELECT * FROM domains WHERE name = ?", (name,))
        return Domain(**dict(rows[0]))

    def list_domains(self) -> list[Domain]:
        return [Domain(**dict(r)) for r in self._query("SELECT * FROM domains ORDER BY name")]

    def get_domain(self, guid: str) -> Domain | None:
        rows = self._query("SELECT * FROM domains WHERE guid = ?", (guid,))
        return Domain(**dict(rows[0])) if rows else None

    # -- routes ---------------------------------------------------------------------------

    def create_route(self, host: str, domain_guid: str) -> Route:
        route = Route(new_guid(), host, domain_guid, now_iso())
        try:
            with self._tx() as c:
                c.execute("INSERT INTO routes (guid, host, domain_guid, created_at) VALUES (?, ?, ?, ?)",
                          (route.guid, route.host, route.domain_guid, route.created_at))
        except sqlite3.IntegrityError as e:
            raise HostTaken(host) from e
        return route

    def get_route(self, guid: str) -> Route | None:
        rows = self._query("SELECT * FROM routes WHERE guid = ?", (guid,))
        return Route(**dict(rows[0])) if rows else None

    def list_routes(self, host: str | None = None) -> list[Route]:
        if host is None:
            rows = self._query("SELECT * FROM routes ORDER BY host")
        else:
            rows = self._query("SELECT * FROM routes WHERE host = ? ORDER BY host", (host,))
        return [Route(**dict(r)) for r in rows]

    def delete_route(self, guid: str) -> list[str]:
        """Delete a route; returns the guids of the apps it was bound to."""
        with self._tx() as c:
            apps = [r[0] for r in c.execute("SELECT app_guid FROM app_routes WHERE route_guid = ?", (guid,))]
            c.execute("DELETE FROM routes WHERE guid = ?", (guid,))
        return apps

    def bind_route(self, app_guid: str, route_guid: str) -> None:
        with self._tx() as c:
            c.execute("INSERT OR IGNORE INTO app_routes (app_guid, route_guid) VALUES (?, ?)", (app_guid, route_guid))

    def unbind_route(self, app_guid: str, route_guid: str) -> None:
        with self._tx() as c:
            c.execute("DELETE FROM app_routes WHERE app_guid = ? AND route_guid = ?", (app_guid, route_guid))

    def app_routes(self, app_guid: str) -> list[Route]:
        rows = self._query("SELECT r.* FROM routes r JOIN app_routes ar ON ar.route_guid = r.guid "
                           "WHERE ar.app_guid = ? ORDER BY r.host", (app_guid,))
        return [Route(**dict(r)) for r in rows]

    def route_apps(self, route_guid: str) -> list[str]:
        return [r[0] for r in self._query("SELECT app_guid FROM app_routes WHERE route_guid = ?", (route_guid,))]

    # -- crashes --------------------------------------------------------------------------

    def record_crash(self, crash: Crash) -> None:
        with self._tx() as c:
            if not c.execute("SELECT 1 FROM apps WHERE guid = ?", (crash.app_guid,)).fetchone():
                return
            c.execute("INSERT INTO crashes (app_guid, version, instance, idx, exit_status, exit_description, since) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?)", (crash.app_guid, crash.version, crash.instance, crash.index,
                                                        crash.exit_status, crash.exit_description, crash.since))
            c.execute("DELETE FROM crashes WHERE app_guid = ? AND id NOT IN (SELECT id FROM crashes "
                      "WHERE app_guid = ? ORDER BY id DESC LIMIT ?)", (crash.app_guid, crash.app_guid,
                                                                      MAX_CRASHES_PER_APP))

    def crashes(self, app_guid: str) -> list[Crash]:
        rows = self._query("SELECT * FROM crashes WHERE app_guid = ? ORDER BY id", (app_guid,))
        return [Crash(r["app_guid"], r["version"], r["instance"], r["idx"], r["exit_status"],
                      r["exit_description"], r["since"]) for r in rows]


def migrate(conn: sqlite3.Connection) -> None:
    """Bring an older database up to this schema, in one transaction: ``apps.space_guid``
    (added if missing), the default org and space, and every app without a space moved there.
    Idempotent: it runs at every start."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(apps)")}
        if "space_guid" not in columns:
            conn.execute("ALTER TABLE apps ADD COLUMN space_guid TEXT")
        conn.execute("CREATE INDEX IF NOT EXISTS apps_space ON apps (space_guid)")
        now = now_iso()
        conn.execute("INSERT OR IGNORE INTO organizations (guid, name, created_at) VALUES (?, ?, ?)",
                     (DEFAULT_ORG_GUID, DEFAULT_ORG, now))
        conn.execute("INSERT OR IGNORE INTO spaces (guid, name, organization_guid, created_at) VALUES (?, ?, ?, ?)",
                     (DEFAULT_SPACE_GUID, DEFAULT_SPACE, DEFAULT_ORG_GUID, now))
        conn.execute("UPDATE apps SET space_guid = ? WHERE space_guid IS NULL", (DEFAULT_SPACE_GUID,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class _Tx:
    """``with db._tx() as conn``: one BEGIN IMMEDIATE ... COMMIT under the lock."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.RLock) -> None:
        self._conn = conn
        self._lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._conn.execute("COMMIT")
            else:
                self._conn.execute("ROLLBACK")
        finally:
            self._lock.release()


